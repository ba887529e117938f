"""The Prometheus fronts of scheduled probes: ``callprobe exporter`` (blackbox-style ``/probe``).

``callprobe run --push`` / ``--textfile`` report through :mod:`probes._pushgateway`
and :mod:`probes._measures`, which this front shares. Registered through
``probes._cli.COMMAND_MODULES``.
"""

from __future__ import annotations

from ._commands import add_commands

__all__ = ["add_commands"]
