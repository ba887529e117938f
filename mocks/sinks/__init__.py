"""Sinks that record what a gateway sends out (alerts), for the harness to read back."""

from __future__ import annotations

from ._slack import SlackSink, create_sink_app

__all__ = ["SlackSink", "create_sink_app"]
