"""Which backend reads which kind of evidence, as a target profile says.

Kept out of the probe so that adding a backend means one branch here and
one module beside it, nothing in the pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from ._errors import SentrySink
from ._logs import GatewayLogStream, JsonLinesFile
from ._logs_backends import ElasticsearchLogs, LokiLogs
from ._traces import JaegerQuery, SpanSink, TempoQuery

if TYPE_CHECKING:
    from .._profile import TargetProfile

__all__ = ["LogSource", "TraceSource", "error_source", "log_source", "trace_source"]

LogSource = GatewayLogStream | JsonLinesFile | LokiLogs | ElasticsearchLogs
TraceSource = SpanSink | JaegerQuery | TempoQuery


def log_source(profile: TargetProfile, client: httpx.AsyncClient, token: str | None) -> LogSource | None:
    """The profile's log backend (``logs.kind``), or None for ``none``."""
    logs = profile.logs
    if logs.kind == "gateway":
        return GatewayLogStream(profile.resolved_log_url, token, client)
    if logs.kind == "file" and logs.path:
        return JsonLinesFile(logs.path)
    if logs.kind == "loki" and logs.url and logs.query:
        return LokiLogs(logs.url, logs.query, client)
    if logs.kind == "elasticsearch" and logs.url and logs.index:
        return ElasticsearchLogs(logs.url, logs.index, client, timestamp_field=logs.timestamp_field)
    return None


def trace_source(profile: TargetProfile, client: httpx.AsyncClient) -> TraceSource | None:
    """The profile's trace backend (``traces.kind``), or None."""
    traces = profile.traces
    if traces.url is None or traces.kind == "none":
        return None
    if traces.kind == "receiver":
        return SpanSink(traces.url, client)
    if traces.kind == "jaeger":
        return JaegerQuery(traces.url, traces.service, client)
    return TempoQuery(traces.url, traces.service, client)


def error_source(profile: TargetProfile, client: httpx.AsyncClient) -> SentrySink | None:
    """The profile's error-event backend (``errors.kind``), or None."""
    errors = profile.errors
    return SentrySink(errors.url, client) if errors.kind == "sentry_receiver" and errors.url else None
