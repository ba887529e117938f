"""``callprobe exporter``: multi-step synthetic calls behind blackbox_exporter's ``/probe`` interface.

Prometheus scrapes ``GET /probe?module=<module or scenario>&target=<target name>``
exactly as it scrapes a blackbox exporter (the same relabelling), and gets the
probe's metrics (:mod:`probes._measures`): HTTP 200 with ``probe_success 0`` on
a failed probe, 400 for an unknown module or target (or a scenario the
target's production guard refuses), ``debug=true`` for the probe's timeline,
failure text, metrics and module as text.

Semantics follow blackbox_exporter's ``prober/handler.go``: the timeout is the
module's, or the scrape's ``X-Prometheus-Scrape-Timeout-Seconds`` minus
``timeout_offset`` when that is shorter (120 s without the header). The answer
comes by the timeout even when the target hangs: the probe then goes on in the
background until its cleanup has cancelled what it booked, and its late result
lands in the history. At most ``concurrency`` probes run at once (those
cleaning up count); a scrape that finds no free slot before its timeout gets
a 503. The exporter's own ``/metrics`` and an index page of recent probes
(``/``, ``/logs?id=N``) are served beside it.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TypeVar

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from .._deadline import Recorder, deadline_verdict, target_hosts
from .._errors import ProbeError
from .._evidence import Verdict
from .._gate import TimingGate
from .._measures import Measures, measure, measures_registry
from .._probe import probe
from .._probeconfig import Module, ProbeConfig, Target
from .._profile import TargetProfile
from .._redact import Redactor
from .._report import format_failure
from .._safety import refusal
from .._timeline import build_timelines, timeline_to_text
from .._tls import tls_context
from ._history import History
from ._own_metrics import OwnMetrics

__all__ = ["Exporter", "create_app", "probe_timeout"]

TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
T = TypeVar("T")


def probe_timeout(header: str | None, module_timeout: float | None, offset: float, default: float) -> float:
    """blackbox_exporter's ``getTimeout``: the scrape's timeout minus ``offset``, or the module's when it is shorter.

    A header that is not a number is a ValueError (blackbox answers 500 then).
    """
    scrape = float(header) if header else 0.0
    if not (math.isfinite(scrape) and scrape > 0):  # absent, zero, negative, NaN or inf: blackbox's 120 s default
        scrape = default
    limit = scrape - offset
    if module_timeout is not None and (module_timeout < limit or limit < 0):
        return module_timeout
    return limit if limit > 0 else scrape


@dataclass(frozen=True)
class _Answer:
    measures: Measures
    debug: str
    timeout: float


class _Busy(Exception):
    """No probe slot became free before the scrape's timeout (or the exporter is shutting down)."""


def _log(line: str) -> None:
    print(f"callprobe exporter: {line}", file=sys.stderr, flush=True)


class Exporter:
    """Runs probes for ``/probe`` requests on the server's event loop, bounded and deadline-true."""

    def __init__(self, config: ProbeConfig, *, concurrency: int | None = None, log: Callable[[str], None] = _log) -> None:
        self.config = config
        self.settings = config.exporter
        self.concurrency = concurrency or self.settings.concurrency
        self.gate = TimingGate()
        self.history = History(self.settings.history)
        self.metrics = OwnMetrics()
        self.log = log
        self._slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[tuple[Verdict, TargetProfile]]] = set()
        self._clients: dict[str, httpx.AsyncClient] = {}  # one per target: pooled connections, one TLS context
        self._closing = False

    # -- one probe --------------------------------------------------------------------

    async def run(self, module: Module, target: Target, timeout: float, *, debug: bool = False) -> _Answer:
        """The probe's answer by ``timeout``; the probe itself may go on (cleanup) after it.

        The debug text (timeline and all) is built for a failed probe, which the
        history keeps, and for a ``debug`` request; a passed probe keeps a summary.
        """
        if self._closing:
            raise _Busy("the exporter is shutting down")
        started = time.monotonic()
        self._slots = self._slots or asyncio.Semaphore(self.concurrency)
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except TimeoutError:
            self.metrics.probes.labels(module.name, target.name, "busy").inc()
            raise _Busy(f"all {self.concurrency} probe slots stayed busy for the {timeout:g} s timeout") from None
        recorder = Recorder()
        begun = time.monotonic()
        task = asyncio.create_task(self._probe(module, target, recorder))
        self._tasks.add(task)
        self.metrics.in_flight.set(len(self._tasks))
        done, _ = await asyncio.wait({task}, timeout=max(0.0, timeout - (time.monotonic() - started)))
        if task in done:
            answer = self._finished(module, target, task, timeout, time.monotonic() - begun, debug)
        else:
            answer = self._late(module, target, task, recorder, timeout)
        self.metrics.duration.labels(module.name, target.name).observe(time.monotonic() - started)
        return answer

    async def _probe(self, module: Module, target: Target, recorder: Recorder) -> tuple[Verdict, TargetProfile]:
        try:
            async with self.config.lease(target) as profile:
                verdict = await probe(module.scenario, profile, seed=module.seed, client=self._client(target.name, profile),
                                      gate=self.gate, listener=recorder)
                return (verdict.strict() if module.strict else verdict), profile
        finally:
            assert self._slots is not None
            self._slots.release()

    def _client(self, name: str, profile: TargetProfile) -> httpx.AsyncClient:
        """The target's HTTP client, kept for the exporter's life: a client per probe would build a TLS context per probe."""
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = httpx.AsyncClient(timeout=profile.request_timeout_s, verify=tls_context())
        return client

    def _forget(self, task: asyncio.Task[tuple[Verdict, TargetProfile]]) -> None:
        self._tasks.discard(task)
        self.metrics.in_flight.set(len(self._tasks))

    def _finished(self, module: Module, target: Target, task: asyncio.Task[tuple[Verdict, TargetProfile]], timeout: float,
                  seconds: float, debug: bool) -> _Answer:
        self._forget(task)
        if task.cancelled() or task.exception() is not None:
            error = "cancelled" if task.cancelled() else f"{type(task.exception()).__name__}: {task.exception()}"
            self.log(f"module={module.name} target={target.name}: harness error: {error}")
            self.metrics.probes.labels(module.name, target.name, "error").inc()
            measures = Measures.failed("harness_error", seconds)
            self.history.add(module.name, target.name, False, "harness_error", f"harness error: {error}")
            return _Answer(measures, f"harness error: {error}\n", timeout)
        verdict, profile = task.result()
        measures = replace(measure(verdict), duration_s=seconds)  # the whole probe: plan, calls, telemetry, cleanup, checks
        self._count(module, target, measures, verdict)
        text = self._debug(module, target, verdict, profile, measures, timeout, full=debug or not measures.success)
        self.history.add(module.name, target.name, measures.success, measures.reason, text)
        return _Answer(measures, text, timeout)

    def _late(self, module: Module, target: Target, task: asyncio.Task[tuple[Verdict, TargetProfile]], recorder: Recorder,
              timeout: float) -> _Answer:
        """The deadline passed first: answer now, record the probe's own result when it ends."""
        reason = recorder.deadline_reason(timeout, target_hosts(target.profile))
        measures = Measures.failed(reason, timeout)
        self.metrics.probes.labels(module.name, target.name, "timeout").inc()
        early = deadline_verdict(recorder, module.scenario.name, timeout, time.time() - timeout, "the scrape's deadline passed",
                                 target.profile)
        debug = self._debug(module, target, early, target.profile, measures, timeout) if early else f"deadline passed ({reason})\n"
        self.history.add(module.name, target.name, False, reason, debug)
        self.log(f"module={module.name} target={target.name}: no verdict within {timeout:g} s ({reason}); cleanup continues")
        task.add_done_callback(lambda t: self._after(module, target, t, timeout))
        return _Answer(measures, debug, timeout)

    def _after(self, module: Module, target: Target, task: asyncio.Task[tuple[Verdict, TargetProfile]], timeout: float) -> None:
        self._forget(task)
        self.metrics.late.inc()
        if task.cancelled() or task.exception() is not None:
            self.log(f"module={module.name} target={target.name}: late probe ended without a verdict")
            return
        verdict, profile = task.result()
        measures = measure(verdict)
        self._count_cleanup(verdict)
        self.history.add(module.name, target.name, measures.success, measures.reason,
                         self._debug(module, target, verdict, profile, measures, timeout), late=True)

    def _count(self, module: Module, target: Target, measures: Measures, verdict: Verdict) -> None:
        self.metrics.probes.labels(module.name, target.name, "success" if measures.success else "failure").inc()
        self._count_cleanup(verdict)
        if not measures.success:
            checks = ", ".join(sorted(verdict.failed_checks()))
            self.log(f"module={module.name} target={target.name}: probe failed ({measures.reason}: {checks})")

    def _count_cleanup(self, verdict: Verdict) -> None:
        ev = verdict.evidence
        self.metrics.cancelled.inc(len(set(ev.booked) - set(ev.cleanup_left)))
        self.metrics.left.inc(len(ev.cleanup_left))

    def _debug(self, module: Module, target: Target, verdict: Verdict, profile: TargetProfile | None, measures: Measures,
               timeout: float, *, full: bool = True) -> str:
        """blackbox's debug output: the probe's log (failure text, timeline), the metrics, the module."""
        red = Redactor.for_verdict(verdict, profile.secret_values() if profile is not None else [])
        contract = profile.contract if profile is not None else None
        logs = red.text(format_failure(verdict)) + "\n"
        if full:
            logs += timeline_to_text(build_timelines(verdict, red, contract))
        metrics = generate_latest(measures_registry(measures, timeout_s=timeout)).decode()
        where = profile.base_url if profile is not None else "embedded reference gateway"
        config = (f"module: {module.name}\nscenario: {module.scenario.name} ({module.scenario.source})\n"
                  f"target: {target.name} ({red.text(where)})\ntimeout: {timeout:g} s\nseed: {module.seed}\n")
        return f"Logs for the probe:\n{logs}\n\n\n\nMetrics that would have been returned:\n{metrics}\n\n\nModule configuration:\n{config}"

    # -- lifecycle --------------------------------------------------------------------

    async def shutdown(self, grace: float | None = None) -> None:
        """Refuse new probes, let running ones finish their cleanup (up to ``grace``), then cancel what is left.

        A cancelled probe still runs its cleanup while it unwinds; that is bounded by the request timeouts.
        """
        self._closing = True
        wait = self.settings.shutdown_grace if grace is None else grace
        tasks = set(self._tasks)
        if tasks:
            self.log(f"shutting down: waiting up to {wait:g} s for {len(tasks)} probe(s) to finish their cleanup")
            _, late = await asyncio.wait(tasks, timeout=wait)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self.config.close()

    def timeout(self, request: Request, module: Module) -> float:
        return probe_timeout(request.headers.get(TIMEOUT_HEADER), module.timeout, self.settings.timeout_offset,
                             self.settings.default_timeout)


def _bad(text: str, status: int = 400) -> PlainTextResponse:
    return PlainTextResponse(text + "\n", status_code=status)


def _quoted(name: str) -> str:
    return json.dumps(name[:100], ensure_ascii=True)


def _named(exporter: Exporter, params: Mapping[str, str], kind: str, find: Callable[[str], T | None]) -> T | PlainTextResponse:
    """The module or target a request names, or blackbox's 400 (``Module parameter is missing``, ``Unknown module "x"``)."""
    name = params.get(kind, "")
    if not name:
        return _bad(f"{kind.capitalize()} parameter is missing")
    found = find(name)
    if found is None:
        exporter.metrics.unknown.labels(kind).inc()
        return _bad(f"Unknown {kind} {_quoted(name)}")
    return found


async def _probe_endpoint(request: Request) -> Response:
    exporter: Exporter = request.app.state.exporter
    params = request.query_params
    module = _named(exporter, params, "module", exporter.config.module)
    if isinstance(module, Response):
        return module
    target = _named(exporter, params, "target", exporter.config.target)
    if isinstance(target, Response):
        return target
    if (why := refusal(module.scenario, target.profile)) is not None:
        exporter.metrics.unknown.labels("refused").inc()
        return _bad(why)
    try:
        timeout = exporter.timeout(request, module)
    except ValueError:
        return _bad(f"Failed to parse timeout from Prometheus header: {_quoted(request.headers.get(TIMEOUT_HEADER, ''))}", 500)
    try:
        answer = await exporter.run(module, target, timeout, debug=params.get("debug") == "true")
    except _Busy as exc:
        return _bad(f"callprobe exporter: {exc}", 503)
    if params.get("debug") == "true":
        return PlainTextResponse(answer.debug)
    body = generate_latest(measures_registry(answer.measures, timeout_s=answer.timeout))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def _own_metrics(request: Request) -> Response:
    exporter: Exporter = request.app.state.exporter
    return Response(generate_latest(exporter.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _logs(request: Request) -> Response:
    exporter: Exporter = request.app.state.exporter
    raw = request.query_params.get("id", "")
    result = exporter.history.get(int(raw)) if raw.isascii() and raw.isdigit() else None
    if result is None:
        return _bad("Probe id not found", 404)
    return PlainTextResponse(result.debug)


async def _index(request: Request) -> Response:
    exporter: Exporter = request.app.state.exporter
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(r.module)}</td><td>{e(r.target)}</td><td>{'success' if r.success else 'failure'}"
        f"{' (' + e(r.reason) + ')' if r.reason else ''}{' — finished after its answer' if r.late else ''}</td>"
        f"<td>{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(r.at))}Z</td><td><a href=\"logs?id={r.id}\">debug</a></td></tr>"
        for r in exporter.history.items())
    modules = ", ".join(e(m) for m in sorted(exporter.config.modules))
    targets = ", ".join(e(t) for t in sorted(exporter.config.targets))
    example = f"probe?module={e(min(exporter.config.modules, default=''))}&amp;target=embedded&amp;debug=true"
    page = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>callprobe exporter</title></head><body>"
            f"<h1>callprobe exporter</h1><p><a href=\"{example}\">example probe (debug)</a>"
            f" · <a href=\"metrics\">metrics</a></p><p>modules: {modules}</p><p>targets: {targets}</p>"
            "<h2>Recent probes</h2><table border=\"1\" cellpadding=\"3\"><tr><th>module</th><th>target</th><th>result</th>"
            f"<th>time</th><th>debug</th></tr>{rows}</table></body></html>")
    return HTMLResponse(page)


async def _healthy(request: Request) -> Response:
    return PlainTextResponse("Healthy\n")


def create_app(exporter: Exporter) -> Starlette:
    """The exporter's ASGI app; its lifespan shutdown waits for the probes' cleanup."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.loop = asyncio.get_running_loop()
        yield
        await exporter.shutdown()

    routes = [Route("/probe", _probe_endpoint), Route("/metrics", _own_metrics), Route("/logs", _logs), Route("/", _index),
              Route("/-/healthy", _healthy)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.exporter = exporter
    app.state.loop = None
    return app


def validate(config: ProbeConfig) -> None:
    """Fail at start, not at the first scrape: every profile's secrets must be set."""
    for target in config.targets.values():
        if target.profile is not None:
            try:
                target.profile.secrets()
            except ProbeError as exc:
                raise type(exc)(f"{config.source}: targets.{target.name}: {exc}") from None
