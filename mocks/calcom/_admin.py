"""The WireMock-style admin API under ``/__admin`` (ARCHITECTURE.md, "Cal.com mock admin API").

The harness drives the mock over HTTP when it runs out of process: reset,
script, journal, bookings, health. A bad script is a 400 whose message names
the field by its pydantic location (``rules.0.fault: …``), so a typo in a
scenario file is found from the error alone.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks._events import cursor_route
from mocks._input import BadInput, TooLarge, load_json, read_body
from mocks.calcom._mock import CalcomMock
from probes._calcom import CalcomScript

__all__ = ["admin_routes"]


def _mock(request: Request) -> CalcomMock:
    """The mock this app serves."""
    mock: CalcomMock = request.app.state.mock
    return mock


def _bad(message: str, errors: list[dict[str, Any]] | None = None, *, status: int = 400) -> JSONResponse:
    """A 400 (or 413) that says what was wrong, in one line plus the field list."""
    kind = "payload_too_large" if status == 413 else "bad_request"
    return JSONResponse({"error": kind, "message": message, "errors": errors or []}, status_code=status)


async def reset(request: Request) -> Response:
    """``POST /__admin/reset``: forget bookings, journal and script."""
    _mock(request).reset()
    return JSONResponse({"status": "reset"})


async def put_script(request: Request) -> Response:
    """``PUT /__admin/script``: replace the script (body ``CalcomScript``; limits in :class:`CalcomRule`)."""
    try:
        payload = load_json(await read_body(request) or b"null")
    except TooLarge as exc:
        return _bad(f"script {exc}", status=413)
    except BadInput as exc:
        return _bad(f"script body is {exc}" if exc.pos is not None else f"script body: {exc}")
    try:
        script = CalcomScript.model_validate(payload)
    except ValidationError as exc:
        errors = [{"loc": ".".join(str(part) for part in err["loc"]), "msg": err["msg"], "type": err["type"]}
                  for err in exc.errors(include_url=False)]
        summary = "; ".join(f"{e['loc'] or '(body)'}: {e['msg']}" for e in errors)
        return _bad(f"invalid script: {summary}", errors)
    _mock(request).set_script(script)
    return JSONResponse(script.model_dump(mode="json"))


async def get_script(request: Request) -> Response:
    """``GET /__admin/script``: the rules with the ``times`` still left."""
    return JSONResponse(_mock(request).script().model_dump(mode="json"))


async def delete_script(request: Request) -> Response:
    """``DELETE /__admin/script``: no more faults."""
    _mock(request).clear_script()
    return JSONResponse({"rules": []})


async def bookings(request: Request) -> Response:
    """``GET /__admin/bookings``: every booking in the v2 output shape."""
    return JSONResponse({"bookings": _mock(request).bookings()})


async def health(request: Request) -> Response:
    """``GET /__admin/health``: the mock is up."""
    return JSONResponse({"status": "ok"})


def admin_routes(mock: CalcomMock) -> list[Route]:
    """The ``/__admin`` routes of ``mock``, mounted before the catch-all API route."""
    return [
        Route("/__admin/reset", reset, methods=["POST"]),
        Route("/__admin/script", put_script, methods=["PUT"]),
        Route("/__admin/script", get_script, methods=["GET"]),
        Route("/__admin/script", delete_script, methods=["DELETE"]),
        # GET /__admin/journal?after=N → {"entries": [...], "next": N}; after=-1: none, the current cursor
        cursor_route("/__admin/journal", mock.entries, "entries", render=lambda entry: entry.model_dump(mode="json"),
                     error=_bad),
        Route("/__admin/bookings", bookings, methods=["GET"]),
        Route("/__admin/health", health, methods=["GET"]),
    ]
