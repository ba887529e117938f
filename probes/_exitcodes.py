"""The exit codes every front shares (CLI commands, the load runner, scheduled probes).

A cron job, a CI step or a Kubernetes CronJob reads only the exit code, so
each one means one thing wherever callprobe exits.
"""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_HARNESS", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK = 0  # every check passed (a load run: every SLA held)
EXIT_FAILED = 1  # a check failed (a load run: an SLA was breached)
EXIT_USAGE = 2  # bad input or configuration, or nothing to judge (a load run with no completed call)
EXIT_HARNESS = 3  # callprobe itself could not do its job (a load worker died)
