"""The options of a load run, declared once for both fronts.

``callprobe load`` (argparse) and the locustfile (Locust's own parser, where
they also show up in the web UI's start form) read the same table, so an
option has one name, one default and one help text everywhere. The values
travel to Locust workers with Locust's own spawn message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .._errors import ConfigError

__all__ = ["ARRIVALS", "MODELS", "OPTIONS", "SHAPES", "LoadOptions", "Option", "add_options", "seconds"]

ARRIVALS = ("constant", "poisson")
MODELS = ("open", "closed")
SHAPES = ("constant", "ramp", "step", "spike", "soak")
DEFAULT_RATE_CAP = 100.0
_DURATION = re.compile(r"^\s*(?P<n>\d+(\.\d+)?)\s*(?P<unit>ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def seconds(text: str | float) -> float:
    """``30``, ``30s``, ``2m``, ``1.5h``, ``500ms`` → seconds (finite, >= 0)."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = _DURATION.match(str(text))
        if m is None:
            raise ValueError(f"{text!r} is not a duration (e.g. 30s, 2m, 1h)")
        value = float(m["n"]) * _UNIT_S[m["unit"]]
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r} is not a finite duration >= 0")
    return value


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"{text!r} must be a number > 0")
        return value

    parse.__name__ = kind.__name__
    return parse


@dataclass(frozen=True)
class Option:
    """One load option: flag, parser, default and help (``dest`` is the flag without dashes)."""

    flag: str
    type: Callable[[str], Any]
    default: Any
    help: str
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("--scenario", str, None, "scenario file, or the name of one in ./scenarios (one whole call per arrival)"),
    Option("--target", str, None, "target profile (YAML); default: CALLPROBE_TARGET_URL, else --host with the embedded demo keys"),
    Option("--rate", _positive(float), 10.0, "calls started per second (open model), or users (closed model); the peak of --shape"),
    Option("--duration", seconds, "60s", "how long new calls start (30s, 2m, 1h); calls in flight then finish (--drain)"),
    Option("--arrival", str, "constant", "arrival process of the open model", ARRIVALS),
    Option("--shape", str, "constant", "how the rate moves over --duration", SHAPES),
    Option("--model", str, "open", "open: calls start at --rate whatever the answers take; closed: Locust users, one call "
           "after another", MODELS),
    Option("--time-scale", _positive(float), None, "scale of the scenario's send offsets (default: the scenario's time_scale)"),
    Option("--streams", _positive(int), 1, "arrival streams sharing --rate (Locust users of the open model): one per worker process"),
    Option("--max-in-flight", _positive(int), 1000, "calls in flight per stream; an arrival beyond it is a dropped start"),
    Option("--connections", _positive(int), 500, "requests in flight per stream (its connection pool); more wait for one, and "
           "their raw time starts when they go out, their corrected time at their intended send time"),
    Option("--max-rate", _positive(float), DEFAULT_RATE_CAP, "refuse a rate above this (a safety cap; raise it on purpose)"),
    Option("--drain", seconds, None, "how long calls in flight may take to finish after the last start (default: call span "
           "+ request timeout)"),
    Option("--seed", int, None, "first caller seed (default: from the clock); call n uses seed + n"),
    Option("--telemetry-sample", _positive(int), 1000, "judge the logs of at most this many calls, the newest"),
    Option("--callprobe-json", str, None, "write the load verdict (thresholds, completeness, latencies) as JSON to this file"),
)


class _AddsArguments(Protocol):
    def add_argument(self, *args: Any, **kwargs: Any) -> Any: ...


def add_options(parser: _AddsArguments, *, skip: tuple[str, ...] = (), **extra: Any) -> None:
    """Add the options (but ``skip``) to an argparse-like parser (``extra`` goes to each ``add_argument``)."""
    for opt in OPTIONS:
        if opt.flag in skip:
            continue
        # A duration stays text until LoadOptions reads it: Locust's web UI keeps each option's parsed type,
        # and "30s" typed into its form must not have to be a float.
        kind = str if opt.type is seconds else opt.type
        kwargs: dict[str, Any] = {"type": kind, "default": opt.default, "help": opt.help, **extra}
        if opt.choices:
            kwargs["choices"] = opt.choices
        parser.add_argument(opt.flag, **kwargs)


@dataclass(frozen=True)
class LoadOptions:
    """The parsed options (see :data:`OPTIONS`)."""

    scenario: str
    target: str | None = None
    rate: float = 10.0
    duration: float = 60.0
    arrival: str = "constant"
    shape: str = "constant"
    model: str = "open"
    time_scale: float | None = None
    streams: int = 1
    max_in_flight: int = 1000
    connections: int = 500
    max_rate: float = DEFAULT_RATE_CAP
    drain: float | None = None
    seed: int | None = None
    telemetry_sample: int = 1000
    callprobe_json: str | None = None

    @classmethod
    def from_namespace(cls, ns: Any) -> LoadOptions:
        """From a parsed namespace (argparse or Locust's ``parsed_options``); values are re-checked."""
        values = {opt.dest: getattr(ns, opt.dest, opt.default) for opt in OPTIONS}
        if not values["scenario"]:
            raise ConfigError("--scenario is required: a scenario file or the name of one in ./scenarios")
        for opt in OPTIONS:  # the web UI hands values over as text
            value = values[opt.dest]
            if isinstance(value, str) and opt.type is not str:
                try:
                    values[opt.dest] = opt.type(value)
                except ValueError as exc:
                    raise ConfigError(f"{opt.flag}: {exc}") from None
            if opt.choices and values[opt.dest] not in opt.choices:
                raise ConfigError(f"{opt.flag}: {values[opt.dest]!r} is not one of {', '.join(opt.choices)}")
        return cls(**values)

    def to_argv(self) -> list[str]:
        """The options as command-line arguments (for a Locust subprocess)."""
        out: list[str] = []
        for opt in OPTIONS:
            value = getattr(self, opt.dest)
            if value is not None and value != opt.default and not (opt.dest == "duration" and value == seconds(opt.default)):
                out += [opt.flag, str(value)]
        return out
