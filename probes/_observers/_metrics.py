"""Metrics from a Prometheus text endpoint (``/api/metrics`` with a bearer token).

Parsing is prometheus_client's own (``text_string_to_metric_families``), never
a hand-rolled regex: label escaping, ``+Inf`` buckets and exemplars are easy to
get subtly wrong, and a probe that misreads a counter reports a defect the
gateway does not have.
"""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .._errors import ObserverError
from .._evidence import MetricsSnapshot, SeriesKey, series_key
from ._http import endpoint_name, request_text

__all__ = ["MetricsScraper", "parse_exposition"]

_DROPPED_SUFFIXES = ("_created",)


def parse_exposition(text: str, taken_at: float) -> MetricsSnapshot:
    """Every sample of a Prometheus text exposition, keyed by (sample name, labels).

    Counters keep their ``_total`` sample, histograms their ``_bucket{le}``,
    ``_count`` and ``_sum``; ``_created`` timestamps are dropped because no
    check reads them and they would only make label-set listings noisier.
    Raises ``ValueError`` when the text is not an exposition.
    """
    samples: dict[SeriesKey, float] = {}
    duplicates: list[SeriesKey] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith(_DROPPED_SUFFIXES):
                continue
            key = series_key(sample.name, sample.labels)
            if key in samples:  # Prometheus keeps the first sample of a series and drops the rest
                duplicates.append(key)
                continue
            samples[key] = float(sample.value)
    return MetricsSnapshot(taken_at=taken_at, samples=samples, duplicates=tuple(duplicates))


class MetricsScraper:
    """Scrapes one Prometheus endpoint; the token goes in a header and nowhere else."""

    def __init__(self, url: str, token: str | None, client: httpx.AsyncClient, timeout: float | None = None) -> None:
        self.url = url
        self._token = token
        self._client = client
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"MetricsScraper({endpoint_name(self.url)!r})"

    async def snapshot(self) -> MetricsSnapshot:
        """One scrape, stamped with the wall-clock time the answer arrived."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        text = await request_text(
            self._client, "GET", self.url, what="metrics endpoint", headers=headers, timeout=self._timeout
        )
        taken_at = time.time()
        try:
            return parse_exposition(text, taken_at)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise ObserverError(
                f"metrics endpoint at {endpoint_name(self.url)}: the answer is not Prometheus text ({exc})"
            ) from None
