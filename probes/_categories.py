"""Failure categories for the Allure report, from the check that failed first.

A failing scenario's message starts with its first failed check as a tag
(``[alert-count] scenario …``), so one regular expression per category sorts
it: on call, "Alert missing or spam" says where to look before any detail is
read. The table is the single source: ``categories.json`` (Allure 2 format,
written into the results folder) and the Allure 3 config are both made from it.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CATEGORIES", "allure_config", "categories_json", "category_of"]

# (category, patterns of the checks whose failure files a scenario under it), in matching order.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Target unreachable", ("target-reachable", "telemetry-reachable")),
    ("SLA breach", ("latency-sla", "latency-percentile", "histogram-sla-bucket", "time-to-telemetry")),
    ("Correlation lost", (r"correlation-[a-z-]+",)),
    ("Metric missing or wrong", ("metric-delta", "metric-cardinality", "histogram-units", "promql")),
    ("Log missing or PII leak", ("log-present", "log-pii")),
    ("Alert missing or spam", (r"alert-[a-z-]+", "alertmanager-alert")),
    ("Trace broken", (r"trace-[a-z-]+",)),
    ("Error report missing", (r"error-[a-z-]+",)),
    ("Wrong answer to the caller", ("step-status", "step-body", "signature-rejected", "calcom-requests")),
)
_UNREACHABLE_ERRORS = r"TargetError|ConnectError|ConnectTimeout|unreachable"


def category_of(check: str) -> str | None:
    """The category a scenario whose first failed check is ``check`` is filed under."""
    return next((name for name, pats in CATEGORIES if any(re.fullmatch(p, check) for p in pats)), None)


def _regex(patterns: tuple[str, ...]) -> str:
    """Matches the tag on the message's first line; ``[\\s\\S]*`` lets Allure 2's whole-string match pass too."""
    return rf"^[^\n]*\[(?:{'|'.join(patterns)})\][\s\S]*"


def categories_json() -> list[dict[str, Any]]:
    """The ``categories.json`` of a results folder (Allure 2 format; Allure 3 takes the same rules by config)."""
    out: list[dict[str, Any]] = [
        {"name": name, "matchedStatuses": ["failed"], "messageRegex": _regex(patterns)} for name, patterns in CATEGORIES
    ]
    out.append({"name": "Target unreachable", "matchedStatuses": ["broken"], "messageRegex": rf"[\s\S]*(?:{_UNREACHABLE_ERRORS})[\s\S]*"})
    return out


def allure_config(*, name: str = "callprobe synthetic calls", single_file: bool = True) -> dict[str, Any]:
    """The Allure 3 config (``--config``): one offline HTML file, and the categories above."""
    return {
        "name": name,
        "plugins": {"awesome": {"options": {"singleFile": single_file, "reportLanguage": "en"}}},
        "categories": {"rules": categories_json()},
    }
