"""Report a one-shot probe to Prometheus: push it to a Pushgateway, or write it for node_exporter.

A ``callprobe run`` from cron, a systemd timer, a Kubernetes CronJob or a CI
schedule exits before Prometheus could scrape it, so it hands its numbers on
(:mod:`probes._measures`, prefixed ``callprobe_``): ``--push URL`` PUTs them to
a Pushgateway under the grouping key job / probe / target / location (the
Pushgateway adds ``push_time_seconds``, which the shipped
``CallprobeProbeNotPushing`` rule watches), and ``--textfile DIR`` writes them
atomically for node_exporter's textfile collector. Each report replaces the
previous one of its group, on a fresh registry (nothing of the process'
global registry leaks in).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, delete_from_gateway, push_to_gateway, write_to_textfile
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ._errors import ConfigError, TargetError
from ._evidence import Verdict
from ._measures import Measures, measure, measures_registry

__all__ = ["DEFAULT_JOB", "PUSH_PREFIX", "PushKey", "delete_verdict", "push_measures", "push_verdict", "textfile_path",
           "verdict_registry", "write_textfile"]

DEFAULT_JOB = "callprobe"
PUSH_PREFIX = "callprobe_"
_FILE_PART = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class PushKey:
    """The Pushgateway grouping key of one scheduled probe: which probe, against which target, from where."""

    probe: str
    target: str = "embedded"
    location: str = "default"
    job: str = DEFAULT_JOB

    def grouping(self) -> dict[str, str]:
        return {"probe": self.probe, "target": self.target, "location": self.location}


def verdict_registry(verdict: Verdict) -> CollectorRegistry:
    """The verdict's ``callprobe_probe_*`` gauges on a new registry."""
    return measures_registry(measure(verdict), prefix=PUSH_PREFIX)


def _address(url: str) -> str:
    return url.rstrip("/")


def push_measures(url: str, measures: Measures, key: PushKey, timeout: float = 10.0) -> None:
    """PUT ``measures`` to the Pushgateway at ``url`` under ``key`` (replacing that group's previous push)."""
    try:
        push_to_gateway(_address(url), job=key.job, registry=measures_registry(measures, prefix=PUSH_PREFIX), timeout=timeout,
                        grouping_key=key.grouping())
    except OSError as exc:
        raise TargetError(f"push to the Pushgateway failed ({exc})", endpoint=_address(url)) from None


def push_verdict(url: str, verdict: Verdict, key: PushKey | None = None, timeout: float = 10.0) -> None:
    """:func:`push_measures` of ``verdict`` (the key defaults to its scenario on the embedded target)."""
    push_measures(url, measure(verdict), key or PushKey(probe=verdict.scenario), timeout)


def delete_verdict(url: str, key: PushKey, timeout: float = 10.0) -> None:
    """DELETE what was pushed under ``key`` (tests clean up after themselves; a retired probe should too)."""
    try:
        delete_from_gateway(_address(url), job=key.job, grouping_key=key.grouping(), timeout=timeout)
    except OSError as exc:
        raise TargetError(f"delete from the Pushgateway failed ({exc})", endpoint=_address(url)) from None


def textfile_path(folder: str | Path, key: PushKey) -> Path:
    """``DIR/callprobe_<probe>_<target>.prom``: one file per probe and target, so runs replace their own."""
    name = "_".join(_FILE_PART.sub("_", part) for part in (key.job, key.probe, key.target))
    return Path(folder) / f"{name}.prom"


def write_textfile(folder: str | Path, measures: Measures, key: PushKey) -> Path:
    """Write ``measures`` for node_exporter's textfile collector, atomically (a temporary file, then rename).

    The key's labels are added to every series, as the Pushgateway would.
    """
    path = textfile_path(folder, key)
    if not path.parent.is_dir():
        raise ConfigError(f"--textfile: {path.parent} is not a folder (node_exporter's --collector.textfile.directory)")
    registry = measures_registry(measures, prefix=PUSH_PREFIX)
    labelled = _Labelled(registry, {"job": key.job, **key.grouping()})
    try:
        write_to_textfile(str(path), labelled)
    except OSError as exc:
        raise ConfigError(f"--textfile: cannot write {path} ({exc.strerror or exc})") from None
    return path


class _Labelled(Collector):
    """A registry view whose every sample also carries ``labels`` (what a Pushgateway grouping key adds)."""

    def __init__(self, registry: CollectorRegistry, labels: dict[str, str]) -> None:
        self._registry = registry
        self._labels = labels

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            family.samples = [s._replace(labels={**self._labels, **s.labels}) for s in family.samples]
            yield family
