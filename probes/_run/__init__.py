"""The scheduled-probe fronts of the command line: ``callprobe run`` (with ``--live``) and ``callprobe janitor``.

Registered through ``probes._cli.COMMAND_MODULES``; see :mod:`probes._run._commands`.
"""

from __future__ import annotations

from ._commands import add_commands

__all__ = ["add_commands"]
