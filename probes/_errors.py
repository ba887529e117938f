"""One exception hierarchy for callprobe.

Every error a user can cause (a bad scenario file, a bad profile, a target that
answers nonsense) is a :class:`ProbeError`, so fronts (CLI, pytest plugin,
locustfiles) can print one clear paragraph instead of a traceback. Failed
expectations are :class:`CheckFailed`, which is also an ``AssertionError`` so
pytest renders it as a test failure, not as an error.

    ProbeError
    ├── ConfigError          bad option, profile or environment variable
    │   └── UnmappedRole     a contract role the target profile does not map (checks: "not observed")
    ├── ScenarioError        bad scenario file (names the file and the field)
    ├── SignatureError       a Retell signature that cannot be made or read
    ├── TargetError          the target (or a mock/sink) answered badly or not at all
    │   └── TargetUnreachable
    └── ObserverError        an evidence source could not be read before its deadline

    AssertionError
    └── CheckFailed          an expectation did not hold (carries the evidence)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CheckFailed",
    "ConfigError",
    "ObserverError",
    "ProbeError",
    "ScenarioError",
    "SignatureError",
    "TargetError",
    "TargetUnreachable",
    "UnmappedRole",
]


class ProbeError(Exception):
    """Base of every error callprobe raises on purpose."""


class ConfigError(ProbeError):
    """A command-line option, target profile or environment variable is wrong."""


class UnmappedRole(ConfigError):
    """A scenario names a contract role the target's contract does not map (or maps to null).

    Checks turn it into a *not observed* result; elsewhere (a step that reads
    an answer field) it is a configuration error. ``key`` is the profile key
    that would map it.
    """

    def __init__(self, message: str, *, key: str) -> None:
        self.key = key
        super().__init__(f"{message} (set {key} in the target profile)")


class ScenarioError(ProbeError):
    """A scenario file is malformed; the message names the file, the line (when known) and the field."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.field = field
        self.line = line
        prefix = (f"{path}:{line}: " if line else f"{path}: ") if path else ""
        where = f"{field}: " if field else ""
        super().__init__(f"{prefix}{where}{message}")


class SignatureError(ProbeError):
    """A Retell signature header is malformed or cannot be produced."""


class TargetError(ProbeError):
    """The target, a mock or a sink answered in a way callprobe cannot use."""

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: {message}" if endpoint else message)


class TargetUnreachable(TargetError):
    """The target could not be reached at all (connection refused, DNS, timeout)."""


class ObserverError(ProbeError):
    """An evidence source (metrics, logs, alerts, journal) could not be read."""


class CheckFailed(AssertionError):
    """An expectation did not hold.

    ``title`` is the one-line reason, ``detail`` the expected/seen lines, and
    ``evidence`` whatever the check looked at, for reporters to render.
    """

    def __init__(self, *, check: str, title: str, detail: str = "", evidence: Any = None) -> None:
        self.check = check
        self.title = title
        self.detail = detail
        self.evidence = evidence
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"[{self.check}] {self.title}"
        return f"{head}\n{self.detail}" if self.detail else head
