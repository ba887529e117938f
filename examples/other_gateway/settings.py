"""What one gateway process is configured with, checked once at startup.

Everything the gateway needs arrives here (URLs, secrets, tunables and the
seeded defects), so that a bad value fails before the first call, not during one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_TEST_NUMBERS", "DEFECTS", "Settings"]

#: Seeded defects: each breaks exactly one promise, so callprobe can prove its checks catch it.
DEFECTS: dict[str, str] = {
    "alert-without-call": "alerts name neither the call nor its request ID",
    "histogram-in-ms": "the request histogram is observed in milliseconds though named _seconds",
    "booking-not-counted": 'othergw_bookings_total{result="confirmed"} is never incremented',
    "request-id-not-forwarded": "Cal.com requests go out without X-Request-ID",
    "phone-in-logs": "log lines carry the caller's raw number in a `caller` field",
    "late-logs": "log lines reach the file 1.5 s after they happen",
}

#: Numbers that are fictional by convention, so a call from one is a test call:
#: NANP 555-0100..0199 and the German ranges the Bundesnetzagentur keeps for film and TV.
DEFAULT_TEST_NUMBERS: tuple[str, ...] = (
    r"^\+1[2-9]\d\d55501\d\d$",
    r"^\+493023125\d{3}$",
    r"^\+496990009\d{3}$",
    r"^\+494066969\d{3}$",
    r"^\+492214710\d{3}$",
    r"^\+498999998\d{3}$",
)


@dataclass(frozen=True)
class Settings:
    """The gateway's configuration; construction raises ``ValueError`` on anything unusable."""

    calcom_url: str
    retell_api_key: str
    metrics_token: str
    log_file: Path
    calcom_api_key: str | None = None
    alert_webhook_url: str | None = None
    event_type_id: int = 1002
    defects: frozenset[str] = field(default_factory=frozenset)
    calcom_timeout_s: float = 2.0
    alert_threshold: int = 1
    alert_window_s: float = 60.0
    alert_cooldown_s: float = 300.0
    alert_timeout_s: float = 3.0
    max_calls: int = 10_000
    default_time_zone: str = "UTC"
    default_language: str = "en"
    default_tenant: str = "main"
    test_numbers: tuple[str, ...] = DEFAULT_TEST_NUMBERS
    late_log_delay_s: float = 1.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "defects", frozenset(self.defects))
        object.__setattr__(self, "log_file", Path(self.log_file))
        object.__setattr__(self, "calcom_url", self.calcom_url.rstrip("/"))
        unknown = sorted(self.defects - DEFECTS.keys())
        if unknown:
            raise ValueError(f"unknown defect {', '.join(unknown)}; known: {', '.join(DEFECTS)}")
        if not self.retell_api_key:
            raise ValueError("the Retell API key is empty (RETELL_API_KEY)")
        if not self.metrics_token:
            raise ValueError("the metrics token is empty (OTHERGW_METRICS_TOKEN)")
        for name, url in (("Cal.com URL", self.calcom_url), ("alert webhook URL", self.alert_webhook_url)):
            if url is not None and not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"the {name} {url!r} is not an http(s) URL")
        if self.event_type_id <= 0:
            raise ValueError(f"the event type id must be positive, not {self.event_type_id}")
        if self.calcom_timeout_s <= 0 or self.alert_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if self.alert_threshold < 1 or self.alert_window_s <= 0 or self.alert_cooldown_s < 0:
            raise ValueError("alert threshold must be >= 1, window > 0 and cooldown >= 0")
        if self.max_calls < 1:
            raise ValueError("max_calls must be >= 1")
        try:
            ZoneInfo(self.default_time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.default_time_zone!r}") from None
        for pattern in self.test_numbers:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"test number pattern {pattern!r} is not a regex: {exc}") from None

    def has(self, defect: str) -> bool:
        """Whether a seeded defect is switched on."""
        return defect in self.defects
