"""Observers: read the evidence a synthetic call leaves behind (one module per backend).

Each backend implements one of the small protocols in :mod:`.base`: a metrics
source (``snapshot()``) or a cursor source (``mark()`` / ``read(after)``).
"""

from __future__ import annotations

from ._alerts import SlackSink, parse_received_at
from ._calcom import CalcomJournal
from ._errors import SentrySink
from ._http import endpoint_name
from ._logs import GatewayLogStream, JsonLinesFile, log_line
from ._logs_backends import ElasticsearchLogs, LokiLogs
from ._metrics import MetricsScraper, parse_exposition
from ._prometheus import AlertmanagerAPI, PrometheusAPI, parse_go_time
from ._select import LogSource, TraceSource, error_source, log_source, trace_source
from ._traces import JaegerQuery, SpanSink, TempoQuery
from .base import CursorSource, MetricsSource
from .collect import poll_until

__all__ = [
    "AlertmanagerAPI",
    "CalcomJournal",
    "CursorSource",
    "ElasticsearchLogs",
    "GatewayLogStream",
    "JaegerQuery",
    "JsonLinesFile",
    "LogSource",
    "LokiLogs",
    "MetricsScraper",
    "MetricsSource",
    "PrometheusAPI",
    "SentrySink",
    "SlackSink",
    "SpanSink",
    "TempoQuery",
    "TraceSource",
    "endpoint_name",
    "error_source",
    "log_line",
    "log_source",
    "parse_exposition",
    "parse_go_time",
    "parse_received_at",
    "poll_until",
    "trace_source",
]
