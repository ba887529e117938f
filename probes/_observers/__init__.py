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
    "LogSource",
    "PrometheusAPI",
    "TraceSource",
    "error_source",
    "log_source",
    "parse_go_time",
    "trace_source",
    "CalcomJournal",
    "CursorSource",
    "ElasticsearchLogs",
    "GatewayLogStream",
    "JaegerQuery",
    "JsonLinesFile",
    "LokiLogs",
    "MetricsScraper",
    "MetricsSource",
    "SentrySink",
    "SlackSink",
    "SpanSink",
    "TempoQuery",
    "endpoint_name",
    "log_line",
    "parse_exposition",
    "parse_received_at",
    "poll_until",
]
