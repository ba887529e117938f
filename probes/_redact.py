"""One redactor for everything a report shows: headers, bodies, log lines, alert payloads.

Reports (Allure results, the call timeline, JSON) are shared more widely than
the gateway's own logs, so they must never carry a credential or a caller's
number. The runner already hides signature and credential headers when it
records an exchange; this module is the second line for the rest: any
secret-bearing header, the profile's secret values wherever they appear,
webhook URLs (Slack paths are credentials), bearer tokens, Retell signatures,
the password of a URL's ``user:password@``, the value after a secret header's
name in quoted text (a target that echoes the request in an error), and phone
numbers in bodies, matched on their digits as :mod:`probes._pii`
detects them. Every text that leaves the process passes through it: the
failure text, the Allure results, the timeline, the JSON verdict and
``environment.properties``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._pii import caller_pii, mask_digits, redact_phones
from ._signing import SIGNATURE_HEADER

if TYPE_CHECKING:
    from ._evidence import Verdict

__all__ = ["REDACTED", "SECRET_HEADERS", "Redactor", "redact_headers"]

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset(
    {SIGNATURE_HEADER.lower(), "authorization", "proxy-authorization", "cookie", "set-cookie", "x-cal-secret-key", "x-api-key"}
)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the value of every secret-bearing header replaced by ``[redacted]``.

    The runner records exchanges through it, so a signature or credential
    never reaches the evidence; :class:`Redactor` is the second line for
    everything else a report shows.
    """
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}

_SECRET_NAME = re.compile(r"(signature|authorization|secret|token|api[-_]?key|apikey|password|cookie|webhook[-_]?url)", re.I)
_WEBHOOK_URL = re.compile(r"https?://[^\s\"'<>]*(?:/slack/|hooks\.slack\.com|/services/T)[^\s\"'<>]*", re.I)
_SLACK_PATH = re.compile(r"/slack/[^\s\"'<>]+")
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]+")
_QUERY_SECRET = re.compile(r"([?&](?:api[_-]?key|apikey|token|access_token|secret)=)[^&\s\"'<>]+", re.I)
_E164 = re.compile(r"\+\d[\d \-]{6,16}\d")
_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.\-]*://)[^/\s@\"'<>]+@", re.I)
_SIGNATURE = re.compile(r"\bv=(\d+),d=[0-9a-f]{64}\b")
# "authorization: xyz", "'x-api-key': 'xyz'", "cookie=xyz": a secret header's value where an answer quotes the request.
_HEADER_VALUE = re.compile(r"\b((?:proxy-)?authorization|x-api-key|x-cal-secret-key|x-retell-signature|set-cookie|cookie)"
                           r"(['\"]?\s*[:=]\s*['\"]?)(?!\[redacted\]|Bearer\b|Basic\b|v=\d+,d=\[redacted\])[^\s'\",;}]+", re.I)


class Redactor:
    """Masks secrets and phone numbers in report text; unknown shapes pass through unchanged.

    ``secrets`` are literal values (the profile's keys and tokens) replaced wherever
    they occur; ``phones`` are the synthetic callers' numbers, masked in every spelling.
    """

    def __init__(self, *, secrets: Iterable[str] = (), phones: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = tuple(sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True))
        self.phones = tuple(sorted({p for p in phones if p}))

    @classmethod
    def for_verdict(cls, verdict: Verdict, secrets: Iterable[str] = ()) -> Redactor:
        """A redactor that knows every caller number of ``verdict`` (caller and practice lines)."""
        ev = verdict.evidence
        phones = set(caller_pii(ev).phones)
        for call in ev.plan.calls:
            phones.update(p for p in (call.caller.phone, call.caller.practice_phone) if p)
        return cls(secrets=secrets, phones=phones)

    def text(self, value: str) -> str:
        """``value`` with secrets, webhook URLs, bearer tokens and phone numbers masked."""
        out = value
        for secret in self.secrets:
            out = out.replace(secret, REDACTED)
        out = _WEBHOOK_URL.sub("[redacted webhook URL]", out)
        out = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", out)
        out = _SIGNATURE.sub(lambda m: f"v={m.group(1)},d={REDACTED}", out)
        out = _HEADER_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", out)
        out = _SLACK_PATH.sub("/slack/[redacted]", out)
        out = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", out)
        out = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, out)
        if self.phones:
            out = redact_phones(out, self.phones)
        return _E164.sub(lambda m: mask_digits(m.group()), out)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers with secret-bearing values hidden and the others text-redacted."""
        return {k: (REDACTED if self._secret_name(k) else self.text(str(v))) for k, v in headers.items()}

    def value(self, value: Any) -> Any:
        """A JSON-like value with secret-named fields hidden and every string redacted."""
        if isinstance(value, Mapping):
            return {str(k): (REDACTED if self._secret_name(str(k)) and value[k] else self.value(v)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    @staticmethod
    def _secret_name(name: str) -> bool:
        return name.lower() in SECRET_HEADERS or bool(_SECRET_NAME.search(name))
