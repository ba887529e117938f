"""``callprobe gateway|mock calcom|sink``: an address they cannot listen on is one clear line, at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from probes._cli import main

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


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("host", ["not an address", "[::1]", "bad-.example", "host_name", "١٢٧.0.0.1"])
def test_a_host_that_is_not_an_address_is_one_line(command: list[str], host: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--host", host, "--port", "0"])
    assert done.value.code == 2
    name = " ".join(command[:2] if command[0] == "mock" else command[:1])
    assert capsys.readouterr().err == (f"callprobe: error: argument --host: {host!r} is not an IP address or host name "
                                       f"(see callprobe {name} --help)\n")


def test_a_host_name_that_does_not_resolve_is_one_line_even_for_the_embedded_servers() -> None:
    # the gateway starts its embedded Cal.com mock first: that bind failed with a traceback
    proc = _cli("gateway", "--host", "no-such-host.invalid", "--port", "0")
    assert proc.returncode == 2 and proc.stderr.startswith("callprobe: error: cannot listen on no-such-host.invalid:0: ")
    assert len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--alert-cooldown", "nan"], "argument --alert-cooldown: 'nan' is not a finite number of seconds >= 0"),
    (["--alert-cooldown", "inf"], "argument --alert-cooldown: 'inf' is not a finite number of seconds >= 0"),
    (["--alert-cooldown", "-5"], "argument --alert-cooldown: '-5' is not a finite number of seconds >= 0"),
    (["--alert-cooldown", "soon"], "argument --alert-cooldown: 'soon' is not a number of seconds"),
    (["--calcom-url", "ftp://calcom.example"], "GatewayConfig.calcom_url must be an http or https URL, not 'ftp'"),
    (["--otlp-endpoint", "http://otlp.example:70000"], "GatewayConfig.otlp_endpoint has port 70000, outside 1-65535"),
    (["--log-file", "/no/such/folder/gateway.jsonl"], "GatewayConfig.log_file: folder /no/such/folder does not exist"),
])
def test_bad_gateway_configuration_is_one_line_before_serving(args: list[str], message: str) -> None:
    proc = _cli("gateway", "--port", "0", *args)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"callprobe: error: {message}")


def test_a_bad_alert_webhook_url_is_named_not_echoed() -> None:
    env = {**os.environ, "CALLPROBE_ALERT_WEBHOOK_URL": "ftp://hooks.slack.example/services/T0/B0/s3cr3t"}
    proc = subprocess.run([sys.executable, "-m", "probes._cli", "gateway", "--port", "0"], capture_output=True, text=True,
                          timeout=60, check=False, env=env)
    assert proc.returncode == 2
    assert proc.stderr == "callprobe: error: GatewayConfig.alert_webhook_url must be an http or https URL, not 'ftp'\n"
