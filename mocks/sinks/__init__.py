"""Sinks that record what a gateway sends out (alerts, spans, error events), for the harness to read back."""

from __future__ import annotations

from ._alertmanager import create_alertmanager_receiver_app
from ._otlp import SpanStore, create_otlp_app
from ._sentry import SentryEventStore, create_sentry_app
from ._slack import SlackSink, create_sink_app

__all__ = ["SentryEventStore", "SlackSink", "SpanStore", "create_alertmanager_receiver_app", "create_otlp_app", "create_sentry_app",
           "create_sink_app"]
