"""Locust users that replay whole synthetic calls (this module imports Locust: load it only inside Locust).

``import locust`` monkey-patches the whole process with gevent, so nothing in
the pytest process or in probes' asyncio code imports this module; Locust
loads it through a locustfile. Inside, everything is gevent: FastHttpUser's
client, greenlets per call and per request, no asyncio.

- :class:`OpenCallUser` is one *arrival stream* of the open model: it starts a
  call at each intended time of its :class:`~._arrivals.Arrivals`, whatever
  the calls in flight are doing, up to ``--max-in-flight`` (beyond: a dropped
  start). Calls run in greenlets of their own.
- :class:`ClosedCallUser` is Locust's classic closed loop: one call after
  another (``wait_time`` between), for comparison.

Every request is one Locust request (``webhook call_started``, ``function
book_appointment`` …, judged against the step's ``expect``); the whole call is
one more stats entry (``CALL``) kept out of Locust's aggregated row, so the
aggregated request rate is the HTTP requests really sent.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import Event
from gevent.lock import BoundedSemaphore
from gevent.pool import Group
from locust import FastHttpUser, constant, task
from locust.env import Environment

from .._contract import dig
from .._errors import ScenarioError, UnmappedRole
from .._evidence import Exchange
from .._plan import Plan, PlannedRequest
from .._runner import booked_uid, cancel_request
from ._arrivals import Arrivals, RateProfile
from ._calls import CallTarget, step_name
from ._histograms import LatencyBook
from ._ledger import CallRecord, RequestRecord, Tally
from ._options import LoadOptions

__all__ = ["CALL_METHOD", "ClosedCallUser", "LoadProcess", "OpenCallUser", "process"]

CALL_METHOD = "CALL"  # the stats "method" of the whole-call entry
LATE_S = 0.010  # a start this much after its intended time is a late start
CONNECTIONS = 1000  # connections one stream's calls may hold at once


@dataclass
class LoadProcess:
    """The run as one Locust process sees it: options, target, and what it counted so far."""

    opts: LoadOptions
    target: CallTarget
    environment: Environment
    run_id: str
    first_seed: int
    tally: Tally = field(default_factory=Tally)
    book: LatencyBook = field(default_factory=LatencyBook)
    stopping: Event = field(default_factory=Event)
    calls: Group = field(default_factory=Group)
    # (call_id, booking uid) → (the client that booked it, the call's plan, its call index): not yet cancelled
    open_bookings: dict[tuple[str, str], tuple[Any, Plan, int]] = field(default_factory=dict)
    stopped_at: float = math.inf  # monotonic: arrivals meant for later than this were never due
    streams_running: int = 0  # open-model streams of this process still starting calls or waiting for theirs
    streams_done: int = 0
    _seq: Any = field(default_factory=itertools.count)
    _streams: Any = field(default_factory=itertools.count)

    @classmethod
    def start(cls, environment: Environment, opts: LoadOptions, index: int) -> LoadProcess:
        target = CallTarget.load(opts, environment.host)
        seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(1, 1 << 30)
        return cls(opts, target, environment, f"load-{int(time.time())}-{index}", seed + index * 10_000_000)

    def next_seq(self) -> int:
        return int(next(self._seq))

    def arrivals(self) -> Arrivals:
        """A new stream's arrivals (its phase drawn from --seed when given, else at random)."""
        seed = None if self.opts.seed is None else self.first_seed + next(self._streams)
        profile = RateProfile(self.opts.shape, self.opts.rate, self.opts.duration)
        return Arrivals(profile, streams=self.opts.streams, poisson=self.opts.arrival == "poisson", seed=seed)

    @property
    def drain_s(self) -> float:
        """How long calls in flight may take to finish: ``--drain``, else the call's span plus the request timeout."""
        if self.opts.drain is not None:
            return self.opts.drain
        span = max((s.send_at if s.send_at is not None else s.at) for s in self.target.scenario.steps)
        first = min(s.at for s in self.target.scenario.steps)
        return max(0.0, span - first) * self.target.time_scale + self.target.profile.request_timeout_s

    def call_entry(self) -> str:
        return f"call {self.target.scenario.name}"

    @property
    def idle(self) -> bool:
        """Every stream of this process has started its last call and seen it end."""
        return self.streams_done > 0 and self.streams_running == 0

    def finish(self, timeout_s: float) -> None:
        """Stop starting calls, let those in flight end (up to ``timeout_s``), cut the rest, cancel what is still booked."""
        self.stopped_at = min(self.stopped_at, time.monotonic())
        self.stopping.set()
        self.calls.join(timeout=timeout_s)
        if len(self.calls):
            self.calls.kill(block=True, timeout=5)
        self.cancel_open_bookings()

    def cancel_open_bookings(self) -> None:
        for (_, uid), (client, plan, index) in list(self.open_bookings.items()):
            _cancel(self, client, plan, index, uid)


_PROCESS: list[LoadProcess] = []


def process() -> LoadProcess | None:
    """This process's load run (None before the first test_start)."""
    return _PROCESS[-1] if _PROCESS else None


def set_process(run: LoadProcess | None) -> None:
    _PROCESS.clear()
    if run is not None:
        _PROCESS.append(run)


# ------------------------------------------------------------------ one call


@dataclass
class _CallState:
    plan: Plan
    t0: float  # monotonic intended start
    answers: dict[str, Any] = field(default_factory=dict)
    done: dict[tuple[int, int], Event] = field(default_factory=dict)
    records: dict[str, CallRecord] = field(default_factory=dict)
    last_end: float = 0.0
    first_sent: float | None = None
    origin: float = 0.0  # the send offset of the call's first request

    def due(self, req: PlannedRequest, time_scale: float) -> float:
        """When ``req`` is meant to leave (monotonic): latency is corrected from here."""
        return self.t0 + (req.send_at_s - self.origin) * time_scale

    def finished(self, step_index: int, delivery: int) -> Event:
        return self.done.setdefault((step_index, delivery), Event())


def new_call(run: LoadProcess, wall_start: float) -> Plan:
    """A fresh call (its own seed, caller and call_id) starting at ``wall_start``; built before it is due."""
    seq = run.next_seq()
    return run.target.plan(run.first_seed + seq, f"{run.run_id}:{seq}", int(wall_start * 1000))


def place_call(run: LoadProcess, client: _Client, plan: Plan, intended: float, wall_start: float) -> None:
    """One whole call: send each request at its intended time (``intended`` is the first one's), judge it, clean up.

    Offsets count from the call's first request (a ``call_inbound`` comes
    before the call's own time 0), scaled by the time scale.
    """
    state = _CallState(plan, intended, records={c.call_id: CallRecord(c.call_id, wall_start) for c in plan.calls})
    run.tally.started += 1
    order = sorted(plan.requests(), key=lambda r: (r.send_at_s, r.call_index, r.step_index, r.delivery))
    state.origin = order[0].send_at_s if order else 0.0
    sends = Group()
    spawned: list[tuple[PlannedRequest, Any]] = []
    try:
        for req in order:
            delay = state.due(req, run.target.time_scale) - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            _after_earlier_answers(req, spawned)
            spawned.append((req, sends.spawn(_deliver, run, client, state, req)))
        sends.join()
    except gevent.GreenletExit:
        sends.kill(block=False)
        run.tally.cut += 1
        raise
    finally:
        _close_call(run, client, state, intended)


def _after_earlier_answers(req: PlannedRequest, spawned: list[tuple[PlannedRequest, Any]]) -> None:
    """Keep the story's order: wait until the call's earlier requests are answered (or abandoned).

    Retell does not wait for answers, but its events are seconds apart; in a
    compressed replay a generator or gateway that falls behind would otherwise
    send ``call_ended`` before ``call_started`` was answered. The wait counts
    in the corrected latency of the request that had to wait.
    """
    for earlier, greenlet in spawned:
        if earlier.call_index == req.call_index and earlier.send_at_s < req.send_at_s:
            greenlet.join()


def _close_call(run: LoadProcess, client: _Client, state: _CallState, intended: float) -> None:
    """Count the call, log the whole-call entry, and cancel what it booked."""
    for record in state.records.values():
        wanted = {(r.step_index, r.delivery) for r in state.plan.requests() if r.call_id == record.call_id}
        record.completed = wanted <= {(q.step_index, q.delivery) for q in record.requests if q.status is not None}
        run.tally.completed += record.completed
        run.tally.failed_calls += record.completed and not record.ok
        run.tally.calls.append(record)
    if state.first_sent is not None and state.last_end:
        corrected, raw = (state.last_end - intended) * 1000, (state.last_end - state.first_sent) * 1000
        run.book.record([run.call_entry()], corrected, raw)
        entry = run.environment.stats.get(run.call_entry(), CALL_METHOD)
        entry.log(round(raw), 0)
        if not all(r.ok for r in state.records.values()):
            entry.log_error(None)
    for record in state.records.values():
        index = next(c.index for c in state.plan.calls if c.call_id == record.call_id)
        for uid in record.bookings:
            _cancel(run, client, state.plan, index, uid)


def _wait_for_dependencies(state: _CallState, req: PlannedRequest) -> None:
    if req.delivery > 1:  # a redelivery follows the previous attempt, as Retell's do
        state.finished(req.step_index, req.delivery - 1).wait()
    for ref in req.step.args_from.values():
        label = ref.split(".", 1)[0]
        for i, s in enumerate(state.plan.scenario.steps):
            if s.label == label:
                state.finished(i, s.repeat).wait()


def _deliver(run: LoadProcess, client: _Client, state: _CallState, req: PlannedRequest) -> None:
    try:
        _wait_for_dependencies(state, req)
        try:
            state.plan, body = run.target.bind(state.plan, req, state.answers)
        except (ScenarioError, UnmappedRole) as exc:  # e.g. no slot was offered: the call goes on, the request failed
            _unsent(run, state, req, f"{req.step.label}: not sent: {exc}")
            return
        _send(run, client, state, req, body)
    finally:
        state.finished(req.step_index, req.delivery).set()


def _unsent(run: LoadProcess, state: _CallState, req: PlannedRequest, message: str) -> None:
    run.tally.unsent += 1
    run.tally.fail(message, step_name(req.step))
    state.answers[req.step.label] = None
    state.records[req.call_id].requests.append(RequestRecord(req.step_index, req.delivery, None, None, False, time.time()))


def _send(run: LoadProcess, client: _Client, state: _CallState, req: PlannedRequest, body: str) -> None:
    target = run.target
    intended = state.due(req, target.time_scale)
    sent, wall = time.monotonic(), time.time()
    limit = req.step.abandon_after_ms / 1000 if req.step.abandon_after_ms else None
    with gevent.Timeout(limit, False), client.connection():
        for attempt in (1, 2):
            headers = target.headers(req, body)  # signed as it goes out, after any wait for a connection
            sent, wall = time.monotonic(), time.time()  # on the wire now: raw service time starts here
            state.first_sent = sent if state.first_sent is None else min(state.first_sent, sent)
            with client.request(req.method, req.path, name=step_name(req.step), data=body.encode() or None, headers=headers,
                                catch_response=True) as response:
                ended = time.monotonic()
                if attempt == 1 and _stale(response):
                    response.failure(f"{req.step.label}: {STALE}; sent again on a fresh connection")
                    run.tally.resent += 1
                    continue
                exchange = _exchange(req, body, wall, ended - sent, response)
                message = target.judge(state.plan, exchange)
                if message is None:
                    response.success()
                else:
                    response.failure(message)
                    run.tally.fail(message, step_name(req.step))
                _record(run, client, state, req, exchange, message is None, intended, sent, ended)
                return
    # gevent.Timeout(limit, False) ends the block silently when the caller hangs up (mypy cannot see that)
    _abandoned(run, state, req, sent, wall)


STALE = "the target had closed this keep-alive connection before the request (no answer, nothing processed)"


def _stale(response: Any) -> bool:
    """The pooled connection was closed by the server while idle: the request never reached it.

    geventhttpclient retries that only for idempotent methods (RFC 9110); a
    webhook is a POST, and Retell itself delivers again when a connection
    fails. The failed attempt stays in Locust's stats; callprobe's tally
    counts it as resent, not as a failed request.
    """
    return int(response.status_code or 0) == 0 and type(getattr(response, "error", None)).__name__ == "HTTPConnectionClosed"


def _exchange(req: PlannedRequest, body: str, wall: float, took_s: float, response: Any) -> Exchange:
    status = int(response.status_code or 0)
    failed = status == 0
    headers = {k: v for k, v in (response.headers.items() if response.headers is not None else [])}
    return Exchange(
        call_index=req.call_index, call_id=req.call_id, step_index=req.step_index, step=req.step.label, delivery=req.delivery,
        kind=req.kind, method=req.method, path=req.path, request_headers={}, request_body=body, sent_at=wall,
        expect=req.step.expect, latency_ms=took_s * 1000, status=None if failed else status, response_headers=headers,
        response_body="" if failed else (response.text or ""),
        error=f"{type(response.error).__name__}: {response.error}" if failed else None,
    )


def _record(run: LoadProcess, client: _Client, state: _CallState, req: PlannedRequest, x: Exchange, ok: bool, intended: float,
            sent: float, ended: float) -> None:
    tally, contract = run.tally, run.target.contract
    tally.requests += 1
    if x.status is not None:  # a request that got no answer has no latency (it counts as an error)
        run.book.record([step_name(req.step), f"all {req.kind}", "all requests"], (ended - intended) * 1000, (ended - sent) * 1000)
        state.last_end = max(state.last_end, ended)
    if x.status is not None and 200 <= x.status < 300 and req.step.is_retell and req.step.signature == "valid" and req.delivery == 1:
        tally.processed[req.step.event or req.step.function or "?"] += 1
    answer = x.response_json
    record = state.records[req.call_id]
    record.requests.append(RequestRecord(req.step_index, req.delivery, x.status, x.header(contract.correlation_header), ok, x.sent_at))
    uid = booked_uid(answer, contract) if req.step.function is not None and req.step.function != "cancel_appointment" else None
    if uid is not None and uid not in record.bookings:
        record.bookings.append(uid)
        tally.booked += 1
        run.open_bookings[(req.call_id, uid)] = (client, state.plan, req.call_index)
    if req.delivery == req.step.repeat:
        state.answers[req.step.label] = answer


def _abandoned(run: LoadProcess, state: _CallState, req: PlannedRequest, sent: float, wall: float) -> None:
    """A hang-up: Locust counts the request (the gateway saw it), with no latency judged."""
    run.tally.requests += 1
    run.environment.events.request.fire(  # type: ignore[no-untyped-call]
        request_type=req.method, name=step_name(req.step), response_time=(time.monotonic() - sent) * 1000,
                                        response_length=0, exception=None, context={})
    state.records[req.call_id].requests.append(RequestRecord(req.step_index, req.delivery, 0, None, True, wall))
    state.answers[req.step.label] = None


def _cancel(run: LoadProcess, client: _Client, plan: Plan, call_index: int, uid: str) -> None:
    """Cancel one booking through the gateway (a Locust request of its own: the gateway sees it)."""
    if run.open_bookings.pop((plan.calls[call_index].call_id, uid), None) is None:
        return  # cancelled already
    path, body, headers = cancel_request(plan, plan.calls[call_index], uid, run.target.api_key)
    name = "cleanup cancel_appointment"
    with client.connection(), client.request("POST", path, name=name, data=body.encode(), headers=headers, catch_response=True) as response:
        run.tally.requests += 1
        status = int(response.status_code or 0)
        if 200 <= status < 300:
            run.tally.processed["cancel_appointment"] += 1
        if 200 <= status < 300 and _cancelled(response.text, run.target):
            run.tally.cancelled += 1
            response.success()
        else:
            run.tally.cancel_failed += 1
            message = f"{name}: booking {uid} was not cancelled (answered {status or 'nothing'})"
            run.tally.fail(message, name)
            response.failure(message)


def _cancelled(text: str | None, target: CallTarget) -> bool:
    """The answer says the booking is cancelled (results.cancelled, in the target's words)."""
    try:
        answer = json.loads(text or "")
        field_path = target.contract.result_field("cancelled")
    except (ValueError, UnmappedRole):
        return False
    return dig(answer, field_path)[1] is True


# ------------------------------------------------------------------ users


class _Client:
    """A stream's HTTP client and its connections: at most ``--connections`` requests in flight at once."""

    def __init__(self, session: Any, connections: int) -> None:
        self.session = session
        self._slots = BoundedSemaphore(connections)

    def connection(self) -> BoundedSemaphore:
        return self._slots

    def request(self, *args: Any, **kwargs: Any) -> Any:
        return self.session.request(*args, **kwargs)



def _wait_for_process() -> LoadProcess:
    while (run := process()) is None:
        gevent.sleep(0.05)
    return run


def _idle() -> None:
    """The run is over for this user: wait to be stopped (returning would run the task again at once)."""
    gevent.sleep(1.0)


class _CallUser(FastHttpUser):
    abstract = True
    concurrency = CONNECTIONS
    host = "http://127.0.0.1"  # replaced by the target's base_url

    def __init__(self, environment: Environment) -> None:
        run = process()
        if run is not None:
            self.host = run.target.profile.base_url
            self.network_timeout = self.connection_timeout = run.target.profile.request_timeout_s
        super().__init__(environment)
        self.calls_client = _Client(self.client, run.opts.connections if run is not None else CONNECTIONS)


class OpenCallUser(_CallUser):
    """One arrival stream of the open model: its share of ``--rate`` (``--streams`` of them share it)."""

    wait_time = constant(0)

    _done = False

    @task
    def stream(self) -> None:
        run = _wait_for_process()
        if self._done or run.stopping.is_set():
            return _idle()
        arrivals, mine = run.arrivals(), Group()
        t0, wall0 = time.monotonic(), time.time()
        run.streams_running += 1
        try:
            self._arrive(run, arrivals, mine, t0, wall0)
            mine.join(timeout=run.drain_s)
        finally:
            self._done = True  # the shape ends the run (at once when every stream is idle)
            run.streams_running -= 1
            run.streams_done += 1
            if run.idle:
                events_idle(run)

    def _arrive(self, run: LoadProcess, arrivals: Arrivals, mine: Group, t0: float, wall0: float) -> None:
        """Start a call at each intended time, whatever the calls in flight are doing.

        Arrivals that were due when the stream stopped (a generator that fell
        behind) still count as intended, and as dropped: the achieved rate must
        show them. Those still in the future when a run is stopped early do not.
        """
        try:
            self._start_calls(run, arrivals, mine, t0, wall0)
        finally:
            while (t := arrivals.next()) is not None and t0 + t <= min(time.monotonic(), run.stopped_at):
                run.tally.intended += 1
                run.tally.dropped += 1

    def _start_calls(self, run: LoadProcess, arrivals: Arrivals, mine: Group, t0: float, wall0: float) -> None:
        while not run.stopping.is_set() and (t := arrivals.next()) is not None:
            intended = t0 + t
            plan = new_call(run, wall0 + t)  # planning is the generator's work, done before the call is due
            if (delay := intended - time.monotonic()) > 0:
                run.stopping.wait(timeout=delay)
            if run.stopping.is_set():
                if intended <= run.stopped_at:  # due before the stop: the generator fell behind
                    run.tally.intended += 1
                    run.tally.dropped += 1
                break
            run.tally.intended += 1
            if len(mine) >= run.opts.max_in_flight:
                run.tally.dropped += 1
                continue
            run.tally.late += time.monotonic() - intended > LATE_S
            run.calls.add(mine.spawn(place_call, run, self.calls_client, plan, intended, wall0 + t))
            gevent.sleep(0)  # let the call send its first request before the next one is planned


class ClosedCallUser(_CallUser):
    """Locust's closed loop: one whole call after another, ``wait_time`` between (the comparison model)."""

    wait_time = constant(0)

    @task
    def call(self) -> None:
        run = _wait_for_process()
        if run.stopping.is_set():
            return _idle()
        run.tally.intended += 1
        wall = time.time()
        plan = new_call(run, wall)
        greenlet = run.calls.spawn(place_call, run, self.calls_client, plan, time.monotonic(), wall)
        greenlet.join()


IDLE_LISTENERS: list[Any] = []  # called with the process's run when its streams are all done (see _locust_run)


def events_idle(run: LoadProcess) -> None:
    for listener in IDLE_LISTENERS:
        listener(run)


def encode_final(run: LoadProcess) -> dict[str, Any]:
    """What a process reports at the end: its tally (with its calls) and its histograms."""
    return {"tally": run.tally.to_json(), "hist": run.book.encode()}
