"""Allure content for one scenario run: labels, a step per request and per check, the timeline.

Only active when allure-pytest is loaded with ``--alluredir``; otherwise the
plugin never imports ``allure``. Everything written here goes through the
:class:`~probes._redact.Redactor`: the results folder is meant to be shared
(CI artifacts, a published report), so it must hold no key, token, signature,
webhook URL or caller number. Steps are opened and closed through
``allure_commons``' hook API (the same one ``allure.step`` uses) so that a
step's status can be set from the verdict without raising inside the test.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import uuid
from collections.abc import Collection
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._categories import categories_json, category_of
from ._evidence import CheckResult, Exchange, Verdict
from ._redact import Redactor
from ._report import jsonable
from ._timeline import CallTimeline, timeline_to_html, timeline_to_json, timeline_to_text

if TYPE_CHECKING:
    import pytest

    from ._profile import TargetProfile
    from ._scenario import Scenario

__all__ = ["allure_active", "write_allure", "write_session_files"]


def allure_active(config: pytest.Config) -> bool:
    """True when allure-pytest is loaded and writing results (``--alluredir``)."""
    return bool(config.pluginmanager.hasplugin("allure_pytest") and getattr(config.option, "allure_report_dir", None))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


class _Step:
    """A step whose status comes from the verdict: passed, failed with a reason, or skipped (not observed)."""

    def __init__(self, title: str, params: dict[str, Any] | None = None) -> None:
        self.title, self.params, self.uuid = title, params or {}, uuid.uuid4().hex
        self.failure: str | None = None
        self.skipped: str | None = None

    def __enter__(self) -> _Step:
        from allure_commons import plugin_manager

        plugin_manager.hook.start_step(uuid=self.uuid, title=self.title, params={k: str(v) for k, v in self.params.items()})
        return self

    def __exit__(self, *exc: object) -> None:
        import pytest
        from allure_commons import plugin_manager

        err: BaseException | None = None
        if self.failure:
            err = AssertionError(self.failure)
        elif self.skipped:
            err = pytest.skip.Exception(self.skipped)  # allure-pytest files a skip exception as a skipped step
        plugin_manager.hook.stop_step(uuid=self.uuid, exc_type=type(err) if err else None, exc_val=err, exc_tb=None)


def _attach(body: str, name: str, kind: str = "json") -> None:
    import allure

    types = {"json": allure.attachment_type.JSON, "text": allure.attachment_type.TEXT,
             "html": allure.attachment_type.HTML, "csv": allure.attachment_type.CSV}
    allure.attach(body, name=name, attachment_type=types[kind])


def _labels(scenario: Scenario, first_failure: CheckResult | None) -> None:
    import allure

    allure.dynamic.title(scenario.name)
    allure.dynamic.severity(allure.severity_level(scenario.severity))
    for setter, value in ((allure.dynamic.epic, scenario.epic), (allure.dynamic.feature, scenario.feature),
                          (allure.dynamic.story, scenario.story)):
        if value:
            setter(value)
    # Markers already become tags: allure-pytest converts the item's pytest marks.
    if first_failure is not None and (category := category_of(first_failure.check)):
        allure.dynamic.label("callprobe_category", category)


def _exchange_step(x: Exchange, results: list[CheckResult], red: Redactor) -> None:
    latency = "no answer" if x.latency_ms is None else f"{x.latency_ms:.1f} ms"
    status = x.error or str(x.status)
    failed = [r for r in results if not r.passed and r.call_id == x.call_id and r.step == x.step]
    title = f"call {x.call_index + 1} · {x.method} {x.path} ({x.step}) → {status} in {latency}"
    with _Step(red.text(title), {"status": status, "latency_ms": latency, "kind": x.kind}) as step:
        if failed or x.error:
            step.failure = red.text("; ".join(f"[{r.check}] {r.reason}" for r in failed) or str(x.error))
        _attach(_json({"method": x.method, "path": x.path, "headers": red.headers(x.request_headers),
                       "body": _body(x.request_body, red)}), "request")
        _attach(_json({"status": x.status, "latency_ms": x.latency_ms, "server_ms": x.server_ms, "error": x.error,
                       "headers": red.headers(x.response_headers), "body": _body(x.response_body, red)}), "response")


def _body(body: str, red: Redactor) -> Any:
    try:
        return red.value(json.loads(body)) if body else None
    except ValueError:
        return red.text(body)


def _metric_table(results: list[CheckResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["series", "before", "after", "delta", "expected", "passed"])
    for r in results:
        ev = r.evidence if isinstance(r.evidence, dict) else {}
        before, after = ev.get("before"), ev.get("after")
        delta = after - before if isinstance(before, int | float) and isinstance(after, int | float) else ""
        writer.writerow([ev.get("series", r.reason), before, after, delta, r.expected, r.passed])
    return buf.getvalue()


def _check_step(r: CheckResult, verdict: Verdict, red: Redactor) -> None:
    where = f" (call_id {r.call_id})" if r.call_id and len(verdict.evidence.plan.calls) > 1 else ""
    mark = "–" if not r.observed and r.passed else ("✓" if r.passed else "✗")
    with _Step(red.text(f"{mark} {r.check}: {r.reason}{where}"), {"check": r.check}) as step:
        if not r.observed and r.passed:
            step.skipped = red.text(r.reason)
        if not r.passed:
            step.failure = red.text(f"[{r.check}] {r.reason}\nexpected: {r.expected}\nseen:     {r.seen}")
        if r.check == "metric-delta":
            _attach(_metric_table([r]), "metric before/after", "csv")
        if r.check in ("log-present", "log-pii", "correlation-in-logs") and not r.passed:
            _attach(_json(red.value([line.record for line in verdict.evidence.logs])), "log lines seen")
        if r.check.startswith("alert-") or r.check == "correlation-in-alerts":
            _attach(_json(red.value([dict(a.payload) for a in verdict.evidence.alerts])), "alert payloads")
        if r.evidence is not None and r.check != "metric-delta":
            _attach(_json(red.value(_plain(r.evidence))), "evidence")
        if not r.passed:
            _attach(red.text(f"expected: {r.expected}\nseen:     {r.seen}"), "expected vs seen", "text")


def _plain(value: Any) -> Any:
    return jsonable(value)


def write_allure(scenario: Scenario, verdict: Verdict, timelines: list[CallTimeline], red: Redactor) -> None:
    """Labels, one step per exchange, one step per check (with evidence), the timeline, metric table."""
    import allure

    _labels(scenario, verdict.failures[0] if verdict.failures else None)
    # The timeline is the description, so every test page shows it without a click.
    allure.dynamic.description_html(timeline_to_html(timelines, lead=red.text(" ".join(scenario.description.split())) or None))
    for x in verdict.evidence.exchanges:
        _exchange_step(x, verdict.results, red)
    unobserved = sum(1 for r in verdict.unobserved if r.passed)
    title = f"checks: {len(verdict.results) - len(verdict.failures) - unobserved} of {len(verdict.results)} passed"
    with _Step(title + (f", {unobserved} not observed" if unobserved else "")) as group:
        if verdict.failures:
            group.failure = red.text("; ".join(f"[{r.check}] {r.reason}" for r in verdict.failures))
        for r in verdict.results:
            _check_step(r, verdict, red)
    metrics = [r for r in verdict.results if r.check == "metric-delta"]
    if metrics:
        _attach(_metric_table(metrics), "metric deltas", "csv")
    _attach(timeline_to_html(timelines), "call timeline", "html")
    _attach(timeline_to_text(timelines), "call timeline (text)", "text")
    _attach(_json(timeline_to_json(timelines)), "call timeline (json)")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def write_session_files(alluredir: str | Path, profile: TargetProfile | None, seed: int | None, *, defects: Collection[str] = ()) -> None:
    """``environment.properties`` (target, versions, seed; never a secret) and ``categories.json``."""
    root = Path(alluredir)
    root.mkdir(parents=True, exist_ok=True)
    red = Redactor(secrets=profile.secret_values() if profile is not None else ())
    env = {
        "target": profile.name if profile is not None else "embedded" + (f" (defects: {', '.join(sorted(defects))})" if defects else ""),
        "target.base_url": red.text(profile.base_url) if profile is not None else "embedded (loopback)",
        "callprobe": _version("callprobe"),
        "python": platform.python_version(),
        "pytest": _version("pytest"),
        "retell-sdk": _version("retell-sdk"),
        "allure-pytest": _version("allure-pytest"),
        "seed": "per scenario (caller.seed)" if seed is None else str(seed),
    }
    lines = [f"{k}={_escape(v)}" for k, v in env.items()]
    (root / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "categories.json").write_text(_json(categories_json()), encoding="utf-8")


def _escape(value: str) -> str:
    """Java properties escaping for the characters a URL or name can hold."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=").replace("\n", " ")
