"""Broken targets on loopback, for the reliability bar: one that hangs, resets, answers HTML 502 or garbage metrics.

Each runs in a thread of the test process, binds 127.0.0.1 on a free port and
is stopped by the test; nothing here sleeps to wait for anything.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mocks._serve import RunningServer, serve_in_thread
from probes._embedded import EmbeddedWorld
from probes._profile import TargetProfile
from probes._stack import free_port

__all__ = ["closed_port", "garbage_metrics", "hanging", "html_502", "long_lived_gateway", "resetting"]


@contextmanager
def long_lived_gateway(*, shared: bool = False) -> Iterator[TargetProfile]:
    """One reference gateway for a whole test module, as a production gateway lives (alert cooldown 1 s)."""
    world = EmbeddedWorld().start()
    try:
        yield world.gateway(alert_cooldown_s=1.0).model_copy(update={"shared": shared})
    finally:
        world.stop()


def closed_port() -> int:
    """A loopback port nothing listens on (a target that is down)."""
    return free_port()


class _RawServer:
    """A TCP server whose connections get ``behaviour``: held open silently, or reset."""

    def __init__(self, reset: bool) -> None:
        self.reset = reset
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close → RST
                conn.close()
            else:
                self.held.append(conn)  # accepted, never answered

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@contextmanager
def hanging() -> Iterator[str]:
    """A target that accepts connections and never answers: its base URL."""
    server = _RawServer(reset=False)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.close()


@contextmanager
def resetting() -> Iterator[str]:
    """A target that resets every connection."""
    server = _RawServer(reset=True)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.close()


def _app(status: int, body: str, media_type: str) -> Starlette:
    async def answer(request: Request) -> Response:
        return Response(body, status_code=status, media_type=media_type)

    return Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])


@contextmanager
def html_502() -> Iterator[RunningServer]:
    """A proxy in front of a dead gateway: every request gets an HTML 502 page."""
    with serve_in_thread(_app(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")) as server:
        yield server


@contextmanager
def garbage_metrics() -> Iterator[RunningServer]:
    """A metrics endpoint that answers 200 with something that is not Prometheus text."""
    with serve_in_thread(_app(200, "this { is not } prometheus text\x00\n", "text/plain")) as server:
        yield server
