"""Example gateways that callprobe is proven against besides its own reference."""
