"""Error reports of the reference gateway, sent with sentry-sdk to a Sentry DSN.

Each gateway app owns one :class:`sentry_sdk.Client` and builds a fresh
:class:`sentry_sdk.Scope` per event, never touching the global hub/scopes:
the embedded target runs a gateway per scenario in one process, and their
tags (call_id, correlation_id) must not bleed into each other. No default
integrations are installed (they patch the process: logging, threading,
http.client), local variables are off, default PII stays off, and ``before_send`` scrubs
phone numbers and transcripts from whatever is left.
"""

from __future__ import annotations

import re
import sys
from typing import Any, cast

import sentry_sdk
from sentry_sdk.utils import event_from_exception

__all__ = ["ErrorReporter", "scrub_event"]

FLUSH_TIMEOUT_S = 2.0
# A digit run of 8+ with phone punctuation, not glued to letters or dashes (uuids, hex ids).
_PHONE = re.compile(r"(?<![\w-])\+?\d[\d\s().\-/]{6,}\d(?![\w-])")
_DROPPED_KEYS = frozenset({"transcript", "transcript_object", "call_summary", "phone", "from_number", "to_number", "user", "request"})


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in _DROPPED_KEYS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return _PHONE.sub("[phone]", value)
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """``before_send``: drop transcript/phone/user/request fields and mask digit runs that look like numbers.

    Ids (uuids, call ids, trace ids) are hex or contain letters, so the mask
    does not touch them; a phone number in an exception message does not survive.
    """
    scrubbed: dict[str, Any] = _scrub(event)
    return scrubbed


RELEASE = "callprobe-reference-gateway"


class ErrorReporter:
    """Sends error events for one gateway; a no-op without a DSN or when ``enabled`` is false.

    ``enabled=False`` is the ``error-not-reported`` seeded defect: the
    gateway swallows Cal.com failures without telling the error tracker.
    """

    def __init__(
        self, dsn: str | None, *, enabled: bool = True, environment: str = "callprobe", release: str = RELEASE, transport: Any = None
    ) -> None:
        """``transport`` (a :class:`sentry_sdk.transport.Transport`) replaces HTTP delivery, for tests.

        ``release`` is always set: left unset, sentry-sdk asks ``git rev-parse`` for one, a
        subprocess for every gateway the embedded target starts.
        """
        self.enabled = enabled
        self._client: sentry_sdk.Client | None = None
        if dsn:
            self._client = sentry_sdk.Client(
                dsn=dsn,
                environment=environment,
                release=release,
                default_integrations=False,
                auto_enabling_integrations=False,
                integrations=[],
                # send_default_pii is left unset: it defaults to off (and sentry-sdk 2.75
                # deprecates passing it), which keeps the SDK's own EventScrubber on.
                include_local_variables=False,
                include_source_context=False,
                max_breadcrumbs=0,
                before_send=cast(Any, scrub_event),  # sentry-sdk types the event as its private Event TypedDict
                shutdown_timeout=FLUSH_TIMEOUT_S,
                transport=transport,
            )

    def capture_exception(self, error: BaseException, *, level: str = "error", tags: dict[str, str | None]) -> str | None:
        """Report ``error`` with ``tags`` (None values left out); returns the event id if one was queued."""
        if self._client is None or not self.enabled:
            return None
        exc_info: tuple[Any, Any, Any] = (type(error), error, error.__traceback__) if error.__traceback__ else sys.exc_info()
        if exc_info[1] is None:
            exc_info = (type(error), error, None)
        event, hint = event_from_exception(exc_info, client_options=self._client.options)
        event["level"] = level  # type: ignore[typeddict-item]
        scope = sentry_sdk.Scope()
        for key, value in tags.items():
            if value is not None:
                scope.set_tag(key, value)
        return self._client.capture_event(event, hint, scope=scope)

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Send every queued event now (tests wait on the receiver instead of sleeping)."""
        if self._client is not None:
            self._client.flush(timeout=timeout_s)

    def close(self) -> None:
        """Flush and stop the transport thread; the app's lifespan calls this on exit."""
        if self._client is not None:
            self._client.close(timeout=FLUSH_TIMEOUT_S)
