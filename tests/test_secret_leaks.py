"""No secret leaves the process, whatever path it takes: planted values, then every output searched for them.

Two ways secrets leaked before: an unexpected exception inside a probe fell
back to pytest's long traceback, whose frames print their arguments and
locals (``api_key = '…'``) in the terminal and in the Allure result; and a
target that quotes the request (its ``Authorization`` header, the signature,
the key it verifies with) in an error had its words copied unredacted into
the failure text and the Allure message. A target URL with
``user:password@`` put the password in ``environment.properties``. Here the
Retell key, the metrics token and the URL password are planted, a pytest
run writes the terminal report, Allure results and timelines, and none of
them may hold a planted value, its base64 form or a Retell signature digest.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

import probes._probe
from mocks._serve import RunningServer, serve_in_thread
from probes._probe import probe
from probes._profile import TargetProfile
from probes._redact import Redactor
from probes._report import verdict_to_json
from probes._scenario import parse_scenario

pytest_plugins = ["pytester"]
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
SCENARIO = "name: quoted\nsteps:\n  - {event: call_started}\n  - {function: check_availability, at: 2}\n"
DIGEST = re.compile(r"d=[0-9a-f]{64}")


@dataclass(frozen=True)
class Planted:
    key: str
    token: str
    password: str
    server: RunningServer

    @property
    def values(self) -> list[str]:
        basic = base64.b64encode(f"probe:{self.password}".encode()).decode()
        return [self.key, self.token, self.password, basic]

    def url(self) -> str:
        return self.server.url.replace("http://", f"http://probe:{self.password}@")

    def profile_yaml(self) -> str:
        # Metrics and logs without the user info: httpx would send it as Basic auth in place of the bearer token.
        return (f"name: planted\nbase_url: '{self.url()}'\nretell_api_key_env: CALLPROBE_TEST_PLANTED_KEY\n"
                f"metrics_url: {self.server.url}/api/metrics\nlogs: {{url: '{self.server.url}/api/logs'}}\n"
                "metrics_token_env: CALLPROBE_TEST_PLANTED_TOKEN\nrequest_timeout_s: 2\ntelemetry_deadline_s: 0.3\nquiet_period_s: 0\n")


def _quoting_target(key: str) -> Starlette:
    """A broken target that tells the caller everything it was sent, and the key it verifies signatures with."""

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"error": f"signature does not match one made with {key}", "you_sent": dict(request.headers)}, 500)

    async def metrics(request: Request) -> PlainTextResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return PlainTextResponse(f"# TYPE seen counter\nseen_total {token}\n")  # the parser's error quotes the token

    async def logs(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"token {request.headers.get('authorization', '').removeprefix('Bearer ')} is not allowed here")

    return Starlette(routes=[Route("/api/metrics", metrics), Route("/api/logs", logs),
                             Route("/{path:path}", echo, methods=["GET", "POST"])])


@pytest.fixture(scope="module")
def planted() -> Iterator[Planted]:
    key = f"key_planted_{secrets.token_hex(12)}"
    server = serve_in_thread(_quoting_target(key))
    try:
        yield Planted(key, f"tok-planted-{secrets.token_hex(12)}", f"pw-planted-{secrets.token_hex(8)}", server)
    finally:
        server.stop()


@pytest.fixture
def project(pytester: pytest.Pytester, planted: Planted, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini(INI)
    (pytester.mkdir("scenarios") / "quoted.yaml").write_text(SCENARIO)
    (pytester.path / "target.yaml").write_text(planted.profile_yaml())
    monkeypatch.setenv("CALLPROBE_TEST_PLANTED_KEY", planted.key)
    monkeypatch.setenv("CALLPROBE_TEST_PLANTED_TOKEN", planted.token)
    monkeypatch.delenv("CALLPROBE_TARGET_URL", raising=False)
    return pytester


def _leaks(text: str, planted: Planted) -> list[str]:
    found = [v[:16] + "…" for v in planted.values if v in text]
    return found + DIGEST.findall(text)[:1]


def _run(project: pytest.Pytester, *extra: str) -> tuple[str, dict[str, str]]:
    result = project.runpytest("scenarios", "--target", "target.yaml", "--alluredir", "allure-results",
                               "--callprobe-timeline-dir", "timelines", "-p", "no:cacheprovider", *extra)
    files = {str(p.relative_to(project.path)): p.read_text(encoding="utf-8", errors="replace")
             for p in sorted(project.path.rglob("*")) if p.is_file() and p.parts[-2] in ("allure-results", "timelines")}
    assert any(name.endswith("-result.json") for name in files), sorted(files)
    return result.stdout.str() + result.stderr.str(), files


def test_a_target_quoting_the_request_leaks_nothing(project: pytest.Pytester, planted: Planted) -> None:
    out, files = _run(project)
    assert "1 failed" in out and "Traceback" not in out, out[-3000:]
    assert "signature does not match one made with [redacted]" in out, out[-3000:]
    assert re.search(r"metrics endpoint at \S+: the answer is not Prometheus text \(.*'\[redacted\]'\)", out), out[-3000:]
    assert "log stream at http://127.0.0.1" in out and "'token [redacted] is not allowed here'" in out, out[-3000:]
    assert "probe:" not in files["allure-results/environment.properties"], files["allure-results/environment.properties"]
    assert any(name.startswith("timelines/") for name in files)
    leaks = {name: _leaks(text, planted) for name, text in {"terminal": out, **files}.items()}
    assert not any(leaks.values()), {k: v for k, v in leaks.items() if v}


@pytest.mark.parametrize("flags", [(), ("-l", "--tb=long"), ("--callprobe-default-traceback", "-l")], ids=["default", "showlocals",
                                                                                                          "default traceback"])
def test_an_unexpected_exception_in_a_probe_shows_no_locals_and_no_secret(project: pytest.Pytester, planted: Planted,
                                                                           monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...]) -> None:
    def broken(scenario: Any, *, api_key: str, **kwargs: Any) -> Any:
        secret_in_a_local = f"{api_key}/{planted.token}"
        raise ValueError(f"cannot plan with {secret_in_a_local}")

    monkeypatch.setattr(probes._probe, "build_plan", broken)
    out, files = _run(project, *flags)
    assert "1 failed" in out, out[-3000:]
    assert "ValueError: cannot plan with [redacted]/[redacted]" in out, out[-3000:]
    assert re.search(r"probes/_probe\.py:\d+( in _plan|: )", out), out[-3000:]
    leaks = {name: _leaks(text, planted) for name, text in {"terminal": out, **files}.items()}
    assert not any(leaks.values()), {k: v for k, v in leaks.items() if v}
    [result] = [json.loads(text) for name, text in files.items() if name.endswith("-result.json")]
    assert result["status"] == "broken" and "[redacted]" in result["statusDetails"]["message"], result["statusDetails"]


async def test_the_json_verdict_is_redacted_with_the_profile_secrets(planted: Planted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLPROBE_TEST_PLANTED_KEY", planted.key)
    monkeypatch.setenv("CALLPROBE_TEST_PLANTED_TOKEN", planted.token)
    profile = TargetProfile(name="planted", base_url=planted.url(), metrics_url=f"{planted.server.url}/api/metrics",
                            logs={"url": f"{planted.server.url}/api/logs"}, retell_api_key_env="CALLPROBE_TEST_PLANTED_KEY",
                            metrics_token_env="CALLPROBE_TEST_PLANTED_TOKEN", request_timeout_s=2, telemetry_deadline_s=0.3,
                            quiet_period_s=0)
    verdict = await probe(parse_scenario({"name": "json", "steps": [{"event": "call_started"}]}), profile)
    text = json.dumps(verdict_to_json(verdict, Redactor.for_verdict(verdict, profile.secret_values())))
    assert "you_sent" in text and not _leaks(text, planted), _leaks(text, planted)
    assert not DIGEST.search(json.dumps(verdict_to_json(verdict))), "a signature digest without the profile's redactor"


@pytest.mark.parametrize(("text", "shown"), [
    ("GET http://probe:s3cret-pw@gw:8080/x failed", "GET http://[redacted]@gw:8080/x failed"),
    ("X-Retell-Signature: v=1767369600000,d=" + "ab" * 32, "X-Retell-Signature: v=1767369600000,d=[redacted]"),
    ('{"authorization": "tok-123", "x-api-key": "k-9"}', '{"authorization": "[redacted]", "x-api-key": "[redacted]"}'),
    ("you sent cookie=session-42; path=/", "you sent cookie=[redacted]; path=/"),
    ("Authorization: Bearer tok-123", "Authorization: Bearer [redacted]"),
    ("the authorization header is missing", "the authorization header is missing"),
], ids=["url password", "signature", "quoted headers", "cookie", "bearer", "prose"])
def test_the_redactor_masks_what_a_target_may_quote(text: str, shown: str) -> None:
    assert Redactor().text(text) == shown


def test_environment_properties_hold_no_url_password(tmp_path: Path) -> None:
    from probes._allure import write_session_files

    profile = TargetProfile(name="p", base_url="https://probe:pw-planted-1@gw.example:8443/base")
    write_session_files(tmp_path, profile, None)
    text = (tmp_path / "environment.properties").read_text()
    assert "target.base_url=https\\://[redacted]@gw.example\\:8443/base" in text and "pw-planted" not in text, text


def test_the_cli_reports_an_internal_error_in_one_redacted_paragraph(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import probes._cli

    monkeypatch.setenv("RETELL_API_KEY", "key_planted_cli_0123456789")

    def broken(*args: Any, **kwargs: Any) -> Any:
        key = "key_planted_cli_0123456789"
        raise ValueError(f"no plan for \x1b[2J{key}")

    monkeypatch.setattr(probes._cli, "build_plan", broken)
    assert probes._cli.main(["plan", "happy-path-booking"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("callprobe: error: internal error (please report it): ValueError: no plan for \\x1b[2J[redacted]\n"), err
    assert "probes/_cli.py:" in err and "key_planted_cli" not in err and "\x1b" not in err and "Traceback" not in err
