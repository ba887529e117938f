"""The gateway's Cal.com v2 client: the few calls a phone-booking gateway makes.

Every request carries the version header Cal.com dispatches on, the bearer
key (if configured), the call's ``X-Correlation-ID`` and a ``traceparent``,
and the configured timeout. Failures are classified into the three error
kinds the function contract tells the voice agent about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from probes._tls import tls_context

from ._tracing import GatewayTracing

__all__ = ["BOOKINGS_VERSION", "EVENT_TYPES_VERSION", "SLOTS_VERSION", "CalcomClient", "CalcomFailure", "CalcomResponse"]

SLOTS_VERSION = "2024-09-04"
BOOKINGS_VERSION = "2024-08-13"
EVENT_TYPES_VERSION = "2024-06-14"
READY_TIMEOUT_S = 1.0
CALCOM_ERROR_TYPES = frozenset({"calendar_unavailable", "rate_limited", "calendar_timeout"})  # CalcomFailure.kind


class CalcomFailure(Exception):
    """Cal.com could not give a usable answer; ``kind`` is the contract's error value."""

    def __init__(self, kind: str, detail: str, *, status: int | None = None) -> None:
        self.kind = kind  # calendar_unavailable | rate_limited | calendar_timeout
        self.detail = detail
        self.status = status
        super().__init__(f"{kind}: {detail}")

    @property
    def severity(self) -> str:
        """Rate limiting degrades one call; an unreachable calendar breaks every booking."""
        return "warning" if self.kind == "rate_limited" else "critical"


@dataclass(frozen=True)
class CalcomResponse:
    """A JSON answer from Cal.com below 500 (4xx are for the caller to interpret)."""

    status: int
    body: dict[str, Any]

    @property
    def error_message(self) -> str:
        error = self.body.get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))
        return str(self.body.get("message", ""))


class CalcomClient:
    """Thin async Cal.com v2 client; a shared ``httpx.AsyncClient`` is used when the app has one."""

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float, *, tracing: GatewayTracing | None = None) -> None:
        self.base_url = base_url
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.shared: httpx.AsyncClient | None = None
        self.tracing = tracing or GatewayTracing(None)

    def _headers(self, version: str, correlation_id: str | None, traceparent: str | None) -> dict[str, str]:
        headers = {"cal-api-version": version, "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        if traceparent:
            headers["traceparent"] = traceparent
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        version: str,
        correlation_id: str | None,
        traceparent: str | None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> CalcomResponse:
        """Send one request; raise :class:`CalcomFailure` on timeout, transport error, 429, 5xx or non-JSON.

        With tracing on, the request runs in a CLIENT span and carries that
        span's ``traceparent`` instead of the caller's hand-made one.
        """
        with self.tracing.client_span(method, path, self.base_url, correlation_id) as (span, span_traceparent):
            try:
                response = await self._send(method, path,
                                            self._headers(version, correlation_id, span_traceparent or self.tracing.fallback(traceparent)),
                                            params, json, timeout_s)
                span.set_attribute("http.response.status_code", response.status)
                return response
            except CalcomFailure as failure:
                if failure.status is not None:
                    span.set_attribute("http.response.status_code", failure.status)
                self.tracing.fail(span, failure, failure.kind)
                raise

    async def _send(
        self, method: str, path: str, headers: dict[str, str], params: dict[str, Any] | None, json: dict[str, Any] | None,
        timeout_s: float | None,
    ) -> CalcomResponse:
        timeout = httpx.Timeout(timeout_s or self.timeout_s)
        url = self.base_url + path
        try:
            if self.shared is not None:
                response = await self.shared.request(method, url, params=params, json=json, headers=headers, timeout=timeout)
            else:
                async with httpx.AsyncClient(timeout=timeout, verify=tls_context()) as client:
                    response = await client.request(method, url, params=params, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            raise CalcomFailure("calendar_timeout", f"{method} {path} timed out after {timeout_s or self.timeout_s} s") from exc
        except httpx.HTTPError as exc:
            raise CalcomFailure("calendar_unavailable", f"{method} {path} failed: {type(exc).__name__}") from exc
        return _classify(method, path, response)


def _classify(method: str, path: str, response: httpx.Response) -> CalcomResponse:
    status = response.status_code
    if status == 429:
        raise CalcomFailure("rate_limited", f"{method} {path} answered 429", status=status)
    if status >= 500:
        raise CalcomFailure("calendar_unavailable", f"{method} {path} answered {status}", status=status)
    try:
        body = response.json()
    except ValueError as exc:
        raise CalcomFailure("calendar_unavailable", f"{method} {path} answered {status} with a body that is not JSON",
                            status=status) from exc
    if not isinstance(body, dict):
        raise CalcomFailure("calendar_unavailable", f"{method} {path} answered {status} with JSON that is not an object", status=status)
    return CalcomResponse(status, body)
