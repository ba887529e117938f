"""Latency histograms at three significant figures, mergeable across Locust workers.

Locust rounds response times to about two figures before they reach its
percentiles; an SLA of 500 ms judged on a value rounded to 500 or 510 is a
coin toss. Every sample goes into an HDR histogram (``hdrhistogram``: 1 µs to
one hour, 3 significant figures), twice: from the request's intended send time
(*corrected*, what a caller experiences under an open workload) and from when
it really left (*raw* service time). Workers send their histograms encoded;
the master adds them, which is exact (unlike averaging percentiles).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hdrh.histogram import HdrHistogram

__all__ = ["CORRECTED", "RAW", "LatencyBook", "Percentiles"]

CORRECTED = "corrected"
RAW = "raw"
_LOWEST_US, _HIGHEST_US, _FIGURES = 1, 3_600_000_000, 3
PERCENTILES = (50.0, 95.0, 99.0)


def _new() -> HdrHistogram:
    from hdrh.histogram import HdrHistogram  # the load extra; callprobe's other commands run without it

    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _FIGURES)


@dataclass(frozen=True)
class Percentiles:
    """Count, p50/p95/p99 and max of one histogram, in milliseconds (3 significant figures)."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    def at(self, percentile: float) -> float:
        return {50.0: self.p50, 95.0: self.p95, 99.0: self.p99, 100.0: self.max}[percentile]


class LatencyBook:
    """Histograms by series name (a step, a request kind, the whole call), corrected and raw."""

    def __init__(self) -> None:
        self._h: dict[tuple[str, str], HdrHistogram] = {}

    def _get(self, name: str, kind: str) -> HdrHistogram:
        found = self._h.get((name, kind))
        if found is None:
            found = self._h[(name, kind)] = _new()
        return found

    def record(self, names: Iterable[str], corrected_ms: float, raw_ms: float) -> None:
        """One sample into each series of ``names``."""
        corrected, raw = _us(corrected_ms), _us(raw_ms)
        for name in names:
            self._get(name, CORRECTED).record_value(corrected)
            self._get(name, RAW).record_value(raw)

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._h})

    def percentiles(self, name: str, kind: str = CORRECTED) -> Percentiles:
        h = self._h.get((name, kind))
        if h is None or h.get_total_count() == 0:
            return Percentiles(0, 0.0, 0.0, 0.0, 0.0)
        p50, p95, p99 = (h.get_value_at_percentile(p) / 1000 for p in PERCENTILES)
        return Percentiles(h.get_total_count(), p50, p95, p99, h.get_max_value() / 1000)

    def value_at(self, name: str, percentile: float, kind: str = CORRECTED) -> tuple[int, float]:
        """(samples, the value at ``percentile`` in ms) of one series."""
        h = self._h.get((name, kind))
        if h is None or h.get_total_count() == 0:
            return 0, 0.0
        value = h.get_max_value() if percentile >= 100 else h.get_value_at_percentile(percentile)
        return h.get_total_count(), value / 1000

    def encode(self) -> dict[str, str]:
        """Every non-empty histogram as ``{"name\\x1fkind": base64}`` (for a worker's report)."""
        return {f"{name}\x1f{kind}": h.encode().decode("ascii") for (name, kind), h in self._h.items() if h.get_total_count()}

    def merge(self, encoded: Mapping[str, str]) -> None:
        """Add histograms another process encoded."""
        for key, blob in encoded.items():
            name, _, kind = key.partition("\x1f")
            self._get(name, kind).decode_and_add(blob.encode("ascii"))

    def reset(self) -> None:
        self._h.clear()


def _us(ms: float) -> int:
    return min(_HIGHEST_US, max(_LOWEST_US, round(ms * 1000)))
