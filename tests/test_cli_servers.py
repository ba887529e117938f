"""``callprobe gateway|mock calcom|sink``: an address they cannot listen on is one clear line, at once."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

COMMANDS = [["gateway"], ["mock", "calcom"], ["sink"], ["sink", "--kind", "otlp"]]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    # The timeout only guards against a hang; a good run answers in about a second.
    return subprocess.run([sys.executable, "-m", "probes._cli", *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_busy_port_names_the_address(command: list[str], busy_port: int) -> None:
    proc = _cli(*command, "--port", str(busy_port))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"callprobe: error: cannot listen on 127.0.0.1:{busy_port}: Address already in use"


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_port_outside_the_range_is_a_usage_error(port: str) -> None:
    proc = _cli("gateway", "--port", port)
    assert proc.returncode == 2
    assert "argument --port:" in proc.stderr and "Traceback" not in proc.stderr


def test_listening_socket_is_tcp_so_asyncio_turns_nagle_off() -> None:
    # asyncio sets TCP_NODELAY on accepted connections only for proto == IPPROTO_TCP; with proto 0,
    # Nagle's algorithm and delayed ACKs added ~40 ms to some answers (bench/suite.py showed it).
    from mocks._serve import _listen

    sock = _listen("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
    finally:
        sock.close()
