"""Send a plan's requests at their offsets and record what happened. No checking here.

Each call of the plan runs as its own task, so concurrent calls really overlap.
Within a call a request leaves at ``send_at × time_scale`` after the start
(the replay pacing) but never before the call's previous request is done,
as Retell's ordered deliveries arrive (duplicates of one step one after the
other, like its redeliveries; a hung-up function request is done when the
caller gives up on it), and a step that takes arguments from an earlier
answer waits for that answer. Requests are signed at the moment they are sent, exactly like
Retell, so a plan replays correctly whenever it runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from ._bounded import MAX_ANSWER_BYTES, Answer, AnswerDeadline, read_answer
from ._contract import Contract, dig
from ._errors import ScenarioError, UnmappedRole
from ._evidence import Exchange
from ._gate import OPEN, Gate
from ._plan import Plan, PlannedCall, PlannedRequest, resolve_args_from, signature_header
from ._progress import Listener, emit
from ._redact import redact_headers
from ._retell import StepSpec, render_call
from ._signing import SIGNATURE_HEADER, now_ms
from ._wire import dumps

__all__ = ["CLEANUP_REASON", "RunOptions", "booked_uid", "booked_uids", "cancel_bookings", "cancel_confirmed", "cancel_request",
           "run_plan", "transport_error"]

CLEANUP_REASON = "callprobe synthetic call cleanup"


@dataclass(frozen=True)
class RunOptions:
    """How to reach the target and in which words it answers (the contract's result fields)."""

    base_url: str
    api_key: str = field(repr=False)
    time_scale: float = 0.02
    timeout_s: float = 10.0
    contract: Contract = field(default_factory=Contract)
    gate: Gate = OPEN  # shared with probes running concurrently (see probes._gate)
    timed: bool = False  # each request goes out alone through the gate
    listener: Listener | None = None  # told about each request and answer as it happens (probes._progress)


@dataclass
class _CallState:
    """One call's progress: its (re-rendered) plan and the answers so far."""

    call: PlannedCall
    answers: dict[str, Any] = field(default_factory=dict)
    done: dict[int, asyncio.Event] = field(default_factory=dict)

    def finished(self, step_index: int) -> asyncio.Event:
        return self.done.setdefault(step_index, asyncio.Event())


async def _send(client: httpx.AsyncClient, req: PlannedRequest, body: str, opts: RunOptions) -> Exchange:
    headers = dict(req.headers)
    if req.step.is_retell:
        sig = signature_header(body, req.step.signature, opts.api_key, now_ms())
        headers.pop(SIGNATURE_HEADER, None)
        if sig is not None:
            headers[SIGNATURE_HEADER] = sig
    base = Exchange(
        call_index=req.call_index, call_id=req.call_id, step_index=req.step_index, step=req.step.label,
        delivery=req.delivery, kind=req.kind, method=req.method, path=req.path,
        request_headers=redact_headers(headers), request_body=body, sent_at=time.time(), expect=req.step.expect,
    )
    limit = req.step.abandon_after_ms / 1000 if req.step.abandon_after_ms else None
    try:
        request = client.build_request(req.method, opts.base_url.rstrip("/") + req.path, content=body.encode() or None, headers=headers)
    except (httpx.InvalidURL, httpx.HTTPError, ValueError) as exc:
        return _finish(base, time.perf_counter(), error=f"cannot send: {type(exc).__name__}: {exc}")
    emit(opts.listener, "request", base)
    exchange = await _exchange(client, request, base, limit, opts)
    emit(opts.listener, "response", exchange)
    return exchange


async def _exchange(client: httpx.AsyncClient, request: httpx.Request, base: Exchange, limit: float | None,
                    opts: RunOptions) -> Exchange:
    async with opts.gate.hold(opts.timed, owner=base.call_id):
        started = time.perf_counter()
        try:
            answer = await asyncio.wait_for(_answer(client, request, opts), timeout=limit)
        except TimeoutError:
            return _finish(base, started, abandoned=True, error=f"caller hung up after {limit * 1000:.0f} ms" if limit else "timeout")
        except AnswerDeadline as exc:
            return _finish(base, started, error=str(exc))
        except httpx.TimeoutException:
            return _finish(base, started, error=f"no answer within {opts.timeout_s:g} s (timeout)")
        except httpx.HTTPError as exc:
            return _finish(base, started, error=transport_error(exc))
        return _finish(base, started, answer=answer)


def transport_error(exc: BaseException) -> str:
    """``ConnectError: All connection attempts failed (ConnectionResetError)``: the error and, when it hides it, its root cause.

    httpx reports a refused and a reset connection alike; the OS error at the
    bottom of the chain tells them apart (and a report should say which).
    """
    text = f"{type(exc).__name__}: {exc or 'connection failed'}"
    root: BaseException = exc
    while (below := root.__cause__ or root.__context__) is not None and below is not root:
        root = below
    if root is not exc and isinstance(root, OSError) and type(root) is not OSError:
        text += f" ({type(root).__name__})"
    return text


async def _answer(client: httpx.AsyncClient, request: httpx.Request, opts: RunOptions) -> Answer:
    """The whole answer within the request timeout (an endless answer is cut off there), at most MAX_ANSWER_BYTES."""
    return await read_answer(client, request, deadline_s=opts.timeout_s, max_bytes=MAX_ANSWER_BYTES)


def _finish(base: Exchange, started: float, *, answer: Answer | None = None, error: str | None = None, abandoned: bool = False) -> Exchange:
    latency = (time.perf_counter() - started) * 1000
    if answer is None:
        return replace(base, latency_ms=None if abandoned else latency, error=error, abandoned=abandoned)
    too_big = f"answered {answer.status} with more than {MAX_ANSWER_BYTES:,} bytes; callprobe read no further" if answer.cut else None
    return replace(base, latency_ms=latency, status=answer.status, response_headers=dict(answer.headers), response_body=answer.text,
                   error=too_big)


async def _run_call(client: httpx.AsyncClient, plan: Plan, call: PlannedCall, opts: RunOptions, t0: float,
                    record: list[Exchange] | None) -> list[Exchange]:
    state = _CallState(call=call)
    order = sorted(call.requests, key=lambda r: (r.send_at_s, r.step_index, r.delivery))
    tasks: dict[tuple[int, int], asyncio.Task[Exchange]] = {}
    previous: asyncio.Task[Exchange] | None = None
    for req in order:
        delay = t0 + req.send_at_s * opts.time_scale - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # replay pacing: the call's own timeline, compressed
        previous = asyncio.create_task(_after(previous, _deliver(client, plan, state, req, opts, tasks)))
        tasks[(req.step_index, req.delivery)] = previous
        if record is not None:
            previous.add_done_callback(lambda t: _record(t, record))
    return list(await asyncio.gather(*tasks.values()))


async def _after(previous: asyncio.Task[Exchange] | None, deliver: Coroutine[Any, Any, Exchange]) -> Exchange:
    """``deliver`` once the call's previous request is done (answered, abandoned or lost).

    Retell's events of one call arrive in order: a replay compressed a
    hundredfold must not let a busy harness (or a slow answer) put
    ``call_ended`` on the wire before ``call_started`` was answered.
    """
    if previous is not None:
        await asyncio.wait([previous])
    return await deliver


async def _deliver(
    client: httpx.AsyncClient, plan: Plan, state: _CallState, req: PlannedRequest, opts: RunOptions,
    tasks: Mapping[tuple[int, int], asyncio.Task[Exchange]],
) -> Exchange:
    step = req.step
    body = req.body
    if step.args_from:
        for ref in step.args_from.values():
            label = ref.split(".", 1)[0]
            for i, s in enumerate(plan.scenario.steps):
                if s.label == label:
                    await state.finished(i).wait()
        where = f"{plan.scenario.source or plan.scenario.name}: steps[{req.step_index}]"
        try:
            args = resolve_args_from(state.call, step, state.answers, where=where, contract=opts.contract)
        except (ScenarioError, UnmappedRole) as exc:  # e.g. no slot was offered: the call goes on, the verdict says why
            return _unsent(state, req, f"not sent: {exc}")
        state.call = plan.rebind(state.call, {req.step_index: args})
        body = next(r.body for r in state.call.requests if r.step_index == req.step_index and r.delivery == req.delivery)
    exchange = await _send(client, req, body, opts)
    if req.delivery == step.repeat:
        state.answers[step.label] = exchange.response_json
        state.finished(req.step_index).set()
    return exchange


def _record(task: asyncio.Task[Exchange], record: list[Exchange]) -> None:
    """Keep a finished exchange at once, so a probe stopped halfway still knows what it booked."""
    if not task.cancelled() and task.exception() is None:
        record.append(task.result())


def _unsent(state: _CallState, req: PlannedRequest, reason: str) -> Exchange:
    state.answers[req.step.label] = None
    state.finished(req.step_index).set()
    return Exchange(
        call_index=req.call_index, call_id=req.call_id, step_index=req.step_index, step=req.step.label,
        delivery=req.delivery, kind=req.kind, method=req.method, path=req.path, request_headers=redact_headers(req.headers),
        request_body="", sent_at=time.time(), expect=req.step.expect, error=reason,
    )


async def run_plan(plan: Plan, client: httpx.AsyncClient, opts: RunOptions, record: list[Exchange] | None = None) -> list[Exchange]:
    """Replay every call of ``plan`` concurrently; return the exchanges in send order.

    ``record`` receives each exchange the moment it is complete: if the run is
    cancelled (a deadline, SIGTERM) it holds what was answered so far, which
    is what the cleanup needs to cancel the bookings already made.
    """
    t0 = time.monotonic()
    per_call = await asyncio.gather(*(_run_call(client, plan, c, opts, t0, record) for c in plan.calls))
    return sorted((x for xs in per_call for x in xs), key=lambda x: x.sent_at)


def booked_uid(answer: Any, contract: Contract) -> str | None:
    """The uid of the booking a function answer confirms, in the target's words (results.booked/booking_uid); None if none."""
    try:
        booked_path, uid_path = contract.result_field("booked"), contract.result_field("booking_uid")
    except UnmappedRole:
        return None
    _, booked = dig(answer, booked_path)
    _, uid = dig(answer, uid_path)
    return str(uid) if booked is True and isinstance(uid, str | int) and str(uid) else None


def booked_uids(exchanges: Sequence[Exchange], extra: Sequence[tuple[int, str]], contract: Contract) -> list[tuple[int, str]]:
    """(call index, uid) of every booking an answer reports, plus ``extra`` (e.g. one the Cal.com journal shows)."""
    out = list(extra)
    for x in exchanges:
        uid = booked_uid(x.response_json, contract) if x.kind == "function" else None
        if uid is not None:
            out.append((x.call_index, uid))
    return list(dict.fromkeys(out))


def cancel_request(plan: Plan, call: PlannedCall, uid: str, api_key: str) -> tuple[str, str, dict[str, str]]:
    """(path, body, headers) of the ``cancel_appointment`` that undoes booking ``uid`` of ``call``, signed now.

    The request is the call's own next function call (same call object), as
    the voice agent would send it; every front that books cleans up with it.
    """
    at = max((s.at_s for s in call.steps), default=0.0) + 1.0
    args = {"booking_uid": uid, "reason": CLEANUP_REASON}
    step = StepSpec(kind="function", at_s=at, function="cancel_appointment", args=args)
    body = dumps(render_call(call.spec, (*call.steps, step), isolated=False)[-1].payload)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature_header(body, "valid", api_key, now_ms()) or ""}
    return plan.paths.function.replace("{name}", "cancel_appointment"), body, headers


def cancel_confirmed(exchange: Exchange, contract: Contract) -> bool:
    """The gateway answered a cleanup cancellation with its ``cancelled`` result field true."""
    if exchange.status is None or not 200 <= exchange.status < 300:
        return False
    try:
        _, cancelled = dig(exchange.response_json, contract.result_field("cancelled"))
    except UnmappedRole:
        return False
    return cancelled is True


async def cancel_bookings(plan: Plan, bookings: Sequence[tuple[int, str]], client: httpx.AsyncClient,
                          opts: RunOptions) -> list[Exchange]:
    """Leave nothing behind: cancel each (call index, uid) through the gateway's own ``cancel_appointment``.

    One cleanup exchange per booking, in order (:func:`booked_uids` finds them; :mod:`probes._cleanup` decides).
    """
    done: list[Exchange] = []
    for call_index, uid in bookings:
        call = plan.calls[call_index]
        path, body, headers = cancel_request(plan, call, uid, opts.api_key)
        url = opts.base_url.rstrip("/") + path
        try:
            answer = await _answer(client, client.build_request("POST", url, content=body.encode(), headers=headers), opts)
            status, text = answer.status, answer.text
        except (httpx.HTTPError, AnswerDeadline) as exc:
            status, text = None, str(exc) if isinstance(exc, AnswerDeadline) else f"{type(exc).__name__}"
        exchange = Exchange(
            call_index=call_index, call_id=call.call_id, step_index=-1, step="cleanup: cancel_appointment", delivery=1,
            kind="cleanup", method="POST", path=path,
            request_headers=redact_headers(headers), request_body=body, sent_at=time.time(),
            expect=call.requests[0].step.expect.model_copy(update={"status": None, "body": None}),
            status=status, response_body=text if status is not None else "", error=None if status else text,
        )
        emit(opts.listener, "cleanup", exchange)
        done.append(exchange)
    return done
