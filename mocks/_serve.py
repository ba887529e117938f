"""Serve an ASGI app on a loopback port in a background thread.

Tests and the embedded default target need real sockets on ephemeral ports
that are ready before the first request and gone afterwards; uvicorn's
``Server.started`` flag gives a deterministic start, polled with a deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn

__all__ = ["RunningServer", "serve_in_thread"]

_START_DEADLINE_S = 10.0


@dataclass
class RunningServer:
    """A server started by :func:`serve_in_thread`; ``stop()`` it when done."""

    url: str
    host: str
    port: int
    app: Any = field(repr=False)
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def running(self) -> bool:
        """The server thread has not exited yet."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0, *, wait: bool = True) -> None:
        """Ask the server to exit; with ``wait`` (the default) join its thread."""
        self._server.should_exit = True
        if wait:
            self._thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _listen(host: str, port: int) -> socket.socket:
    """Bind here rather than inside uvicorn's thread, so a busy or invalid address fails now, by name.

    The socket is made with protocol ``IPPROTO_TCP`` (not 0) because asyncio
    sets TCP_NODELAY on accepted connections only then; without it Nagle's
    algorithm adds ~40 ms delayed-ACK stalls to some answers.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as exc:
        raise RuntimeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except (OSError, OverflowError) as exc:
        sock.close()
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RuntimeError(f"cannot listen on {host}:{port}: {why}") from None
    return sock


def serve_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0, deadline_s: float = _START_DEADLINE_S) -> RunningServer:
    """Start ``app`` with uvicorn and return once it accepts connections.

    ``port=0`` picks a free ephemeral port. Raises ``RuntimeError`` naming the
    address when it cannot be bound, or the server is not up before the deadline.
    """
    sock = _listen(host, port)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on", loop="asyncio", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"callprobe-serve-{host}:{port}", daemon=True)
    thread.start()
    until = time.monotonic() + deadline_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > until:
            server.should_exit = True
            raise RuntimeError(f"server on {host}:{port} did not start within {deadline_s:.0f} s")
        threading.Event().wait(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningServer(url=f"http://{host}:{bound}", host=host, port=bound, app=app, _server=server, _thread=thread)
