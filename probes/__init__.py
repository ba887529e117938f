"""callprobe: synthetic test calls and end-to-end probes for voice-AI phone gateways."""
