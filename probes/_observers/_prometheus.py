"""Prometheus HTTP API (instant and range PromQL) and Alertmanager's ``/api/v2/alerts``.

Stack mode reads what the on-call people read: the numbers Prometheus holds
after scraping the target, and the alerts Alertmanager routes. Answers are
reduced to plain (labels, value) pairs here so checks never see the API's
JSON shapes (``[unix_ts, "string"]`` values, ``resultType``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from .._errors import ObserverError
from ._http import endpoint_name, request_json

__all__ = ["AlertmanagerAPI", "AlertmanagerAlert", "PromSample", "PrometheusAPI", "parse_prom_result"]


@dataclass(frozen=True)
class PromSample:
    """One series of a PromQL answer: its labels and value(s) (a range query has many)."""

    labels: dict[str, str]
    values: tuple[tuple[float, float], ...]

    @property
    def last(self) -> float:
        return self.values[-1][1] if self.values else math.nan

    def text(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return "{" + inner + "}"


def _num(raw: Any) -> float:
    try:
        return float(raw)  # Prometheus spells NaN and ±Inf as "NaN", "+Inf", "-Inf"
    except (TypeError, ValueError):
        return math.nan


def parse_prom_result(data: Any, where: str) -> list[PromSample]:
    """``data`` of a ``/api/v1/query[_range]`` answer as samples (scalars become one unlabelled sample)."""
    if not isinstance(data, dict) or "resultType" not in data:
        raise ObserverError(f"{where}: the answer has no data.resultType ({str(data)[:120]})")
    kind, result = data["resultType"], data.get("result")
    if kind in ("scalar", "string"):
        if not isinstance(result, list) or len(result) != 2:
            raise ObserverError(f"{where}: a {kind} answer is not [time, value] ({str(result)[:120]})")
        ts, value = result
        return [PromSample({}, ((float(ts), _num(value)),))]
    out = []
    for series in result or []:
        labels = {str(k): str(v) for k, v in (series.get("metric") or {}).items()}
        points = series.get("values") if kind == "matrix" else [series.get("value")]
        out.append(PromSample(labels, tuple((float(p[0]), _num(p[1])) for p in points or [] if p)))
    return out


class PrometheusAPI:
    """PromQL over ``/api/v1/query`` and ``/api/v1/query_range`` of one Prometheus."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/")
        self._client = client

    def __repr__(self) -> str:
        return f"PrometheusAPI({endpoint_name(self.url)!r})"

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        url = f"{self.url}{path}"
        answer = await request_json(self._client, "GET", url, what="Prometheus", params=params)
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise ObserverError(f"Prometheus at {endpoint_name(url)}: query {params.get('query')!r} failed: {error}")
        return answer.get("data")

    async def query(self, promql: str, at: float | None = None) -> list[PromSample]:
        """An instant query (at ``at``, default now)."""
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return parse_prom_result(await self._get("/api/v1/query", params), f"Prometheus {endpoint_name(self.url)}")

    async def query_range(self, promql: str, start: float, end: float, step_s: float = 1.0) -> list[PromSample]:
        """A range query from ``start`` to ``end`` (unix seconds) every ``step_s``."""
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"}
        return parse_prom_result(await self._get("/api/v1/query_range", params), f"Prometheus {endpoint_name(self.url)}")

    async def last_scrape(self, job: str | None = None) -> float | None:
        """When Prometheus last scraped ``job`` (every job if None): the oldest of the latest scrapes."""
        selector = f'{{job="{job}"}}' if job else ""
        found = await self.query(f"min(timestamp(up{selector}))")
        value = found[0].last if found else math.nan
        return None if math.isnan(value) else value

    async def last_evaluation(self) -> float | None:
        """The oldest ``lastEvaluation`` over the rule groups (None before the first evaluation)."""
        data = await self._get("/api/v1/rules", {})
        stamps = [_iso(g.get("lastEvaluation")) for g in (data or {}).get("groups", [])]
        known = [s for s in stamps if s is not None]
        return min(known) if known else None


_GO_TIME = re.compile(r"^(?P<head>[^.]+?)(?:\.(?P<frac>\d+))?(?P<tz>Z|[+-]\d\d:\d\d)$")


def _iso(value: Any) -> float | None:
    """Unix seconds from Go's RFC 3339 (nanoseconds allowed; Python takes microseconds at most)."""
    if not isinstance(value, str) or value.startswith("0001-"):
        return None
    m = _GO_TIME.match(value)
    if m is None:
        return None
    tz = "+00:00" if m["tz"] == "Z" else m["tz"]
    try:
        return datetime.fromisoformat(f"{m['head']}.{(m['frac'] or '0')[:6]}{tz}").timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class AlertmanagerAlert:
    """One alert as Alertmanager's API shows it."""

    labels: dict[str, str]
    state: str
    starts_at: float | None
    ends_at: float | None
    annotations: dict[str, str]

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class AlertmanagerAPI:
    """Reads ``GET /api/v2/alerts`` (active, silenced and inhibited alerts)."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/")
        self._client = client

    async def alerts(self) -> list[AlertmanagerAlert]:
        url = f"{self.url}/api/v2/alerts"
        data = await request_json(self._client, "GET", url, what="Alertmanager")
        if not isinstance(data, list):
            raise ObserverError(f"Alertmanager at {endpoint_name(url)}: expected a JSON array, got {type(data).__name__}")
        return [
            AlertmanagerAlert(
                labels=dict(a.get("labels") or {}),
                state=str((a.get("status") or {}).get("state", "")),
                starts_at=_iso(a.get("startsAt")),
                ends_at=_iso(a.get("endsAt")),
                annotations=dict(a.get("annotations") or {}),
            )
            for a in data
            if isinstance(a, dict)
        ]


def parse_go_time(value: Any) -> float | None:
    """Unix seconds from a Go RFC 3339 timestamp (nanoseconds allowed); None for zero/unreadable."""
    return _iso(value)
