"""Slack alerts for gateway errors: grouping, threshold, cooldown, delivery.

:class:`AlertPolicy` is the clock logic alone (pure, ``now`` injected) so it
can be tested with freezegun; :class:`Alerter` applies it and posts Slack
incoming-webhook JSON in background tasks, so a slow Slack never slows a call.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from probes._tls import tls_context

__all__ = ["Alert", "AlertPolicy", "Alerter", "build_slack_payload"]

ALERT_POST_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Alert:
    """One alert to send: the group, how many errors it stands for, and the latest call."""

    error_type: str
    endpoint: str
    severity: str
    count: int
    correlation_id: str | None
    call_id: str | None
    message: str


@dataclass
class _Group:
    times: deque[float] = field(default_factory=deque)
    last_fired: float | None = None
    suppressed: int = 0


class AlertPolicy:
    """Decides when an error group fires: ``threshold`` hits within ``window_s``, then ``cooldown_s`` silence.

    Errors arriving during a cooldown are counted and reported with the
    group's next alert, so nothing is lost, only batched. With
    ``grouped=False`` (the ``alert-per-error`` defect) every error fires.
    """

    def __init__(
        self,
        *,
        threshold: int,
        window_s: float,
        cooldown_s: float,
        now: Callable[[], float] | None = None,
        grouped: bool = True,
    ) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.grouped = grouped
        self._now = now
        self._groups: dict[tuple[str, str], _Group] = {}

    def record(self, error_type: str, endpoint: str) -> int | None:
        """Register one error; return the count to report if it fires now, else None."""
        if not self.grouped:
            return 1
        now = (self._now or time.time)()  # looked up per call, so freezegun's patched clock applies
        group = self._groups.setdefault((error_type, endpoint), _Group())
        if group.last_fired is not None and now - group.last_fired < self.cooldown_s:
            group.suppressed += 1
            return None
        group.times.append(now)
        while group.times and now - group.times[0] > self.window_s:
            group.times.popleft()
        if len(group.times) < self.threshold:
            return None
        count = len(group.times) + group.suppressed
        group.times.clear()
        group.suppressed = 0
        group.last_fired = now
        return count

    def pending(self, error_type: str, endpoint: str) -> int:
        """Errors of a group not yet reported (in the window or suppressed by cooldown)."""
        group = self._groups.get((error_type, endpoint))
        return 0 if group is None else len(group.times) + group.suppressed


def build_slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack incoming-webhook JSON (``text`` fallback + ``blocks``); no secrets, no phone numbers."""
    title = f"[{alert.severity.upper()}] {alert.error_type} on {alert.endpoint}"
    text = f"{title}: {alert.count} error(s), correlation_id {alert.correlation_id or '-'}, call_id {alert.call_id or '-'}"
    fields = [
        ("Error type", alert.error_type),
        ("Severity", alert.severity),
        ("Endpoint", alert.endpoint),
        ("Count", str(alert.count)),
        ("Correlation ID", alert.correlation_id or "-"),
        ("Call ID", alert.call_id or "-"),
    ]
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": alert.message}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n`{v}`"} for k, v in fields]},
        ],
    }


class Alerter:
    """Applies an :class:`AlertPolicy` and posts alerts to a Slack-compatible URL in the background."""

    def __init__(
        self,
        policy: AlertPolicy,
        url: str | None,
        *,
        enabled: bool = True,
        on_result: Callable[[Alert, str | None], None] | None = None,
    ) -> None:
        self.policy = policy
        self._url = url
        self._enabled = enabled
        self._on_result = on_result
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent: list[Alert] = []

    def notify(self, *, error_type: str, endpoint: str, severity: str, message: str,
               correlation_id: str | None, call_id: str | None) -> Alert | None:
        """Record an error; when the policy fires, schedule the post and return the alert."""
        if not self._enabled:
            return None
        count = self.policy.record(error_type, endpoint)
        if count is None:
            return None
        alert = Alert(error_type, endpoint, severity, count, correlation_id, call_id, message)
        self.sent.append(alert)
        if self._url:
            task = asyncio.get_running_loop().create_task(self._post(alert))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return alert

    async def _post(self, alert: Alert) -> None:
        error: str | None = None
        try:
            async with httpx.AsyncClient(timeout=ALERT_POST_TIMEOUT_S, verify=tls_context()) as client:
                response = await client.post(self._url or "", json=build_slack_payload(alert))
            if response.status_code >= 300:
                error = f"alert sink answered HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"alert post failed: {type(exc).__name__}"
        if self._on_result is not None:
            self._on_result(alert, error)

    async def drain(self, timeout: float = ALERT_POST_TIMEOUT_S + 1) -> None:
        """Wait (bounded) for alert posts in flight; used at shutdown and by tests."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
