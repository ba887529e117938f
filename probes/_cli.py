"""The ``callprobe`` console script: a thin front on the library and the mocks.

Every user error ends as one paragraph on stderr and exit code 2; nothing a
user can type produces a traceback. Secrets come from the environment, never
from argv (argv shows up in ``ps``), and are never printed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ._defaults import DEMO_CALCOM_API_KEY, DEMO_METRICS_TOKEN, DEMO_RETELL_API_KEY, ENV_METRICS_TOKEN, ENV_RETELL_API_KEY
from ._errors import ProbeError
from ._plan import build_plan
from ._printable import printable
from ._scenario import load_scenario

if TYPE_CHECKING:
    from mocks._serve import RunningServer

__all__ = ["main", "scenario_path", "start_server", "wait_for_signal"]

from ._argtypes import listen_host as _host
from ._argtypes import port as _port
from ._exitcodes import EXIT_HARNESS, EXIT_USAGE

# Fronts that live in subpackages add their subcommands here: each module has
# ``add_commands(sub)``, and each command's ``func(args) -> int`` (a ProbeError is exit 2).
COMMAND_MODULES: tuple[str, ...] = (
    "._load._cli",
    "._run",
    "._exporter",
)
ENV_ALERT_WEBHOOK = "CALLPROBE_ALERT_WEBHOOK_URL"
ENV_CALCOM_API_KEY = "CALCOM_API_KEY"
ENV_SENTRY_DSN = "CALLPROBE_SENTRY_DSN"
# A call's timestamps are milliseconds since 1970, and its appointment lies days after the call:
# a start outside these bounds cannot be planned (Python's dates end in 9999).
START_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
START_LATEST = datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)


def scenario_path(name: str) -> Path:
    """A path, or the name of a scenario in ./scenarios (``happy-path-booking``)."""
    p = Path(name)
    if p.exists() or p.suffix in (".yaml", ".yml"):
        return p
    for candidate in (Path("scenarios") / f"{name}.yaml", Path("scenarios") / f"{name}.yml"):
        if candidate.exists():
            return candidate
    return p


def _parse_start(text: str | None) -> int | None:
    """``--start`` as epoch milliseconds (``None``: now); a ProbeError for a time a call cannot start at."""
    if text is None or text == "now":
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        when = when if when.tzinfo else when.astimezone()  # a naive time is local, as timestamp() reads it
        in_range = START_EARLIEST <= when <= START_LATEST
    except (ValueError, OverflowError, OSError):
        raise ProbeError(f"--start: {text!r} is not an ISO 8601 time (e.g. 2026-01-02T16:00:00Z) or 'now'") from None
    if not in_range:
        raise ProbeError(f"--start: {text!r} is outside {START_EARLIEST:%Y-%m-%d} … {START_LATEST:%Y-%m-%d}: a call's "
                         "timestamps are milliseconds since 1970 and its appointment is days later")
    return int(when.timestamp() * 1000)


def _cmd_plan(args: argparse.Namespace) -> int:
    scenario = load_scenario(scenario_path(args.scenario))
    start_ms = _parse_start(args.start)
    key = os.environ.get(ENV_RETELL_API_KEY)
    if not key:
        print(f"note: {ENV_RETELL_API_KEY} is not set; signing with the embedded target's demo key", file=sys.stderr)
        key = DEMO_RETELL_API_KEY
    plan = build_plan(scenario, api_key=key, seed=args.seed, start_ms=start_ms)
    requests = [r.to_dict(redact=args.redact) for r in plan.requests()]
    if args.format == "json":
        doc = {"scenario": scenario.name, "seed": plan.seed, "run_id": plan.run_id, "requests": requests}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    for r in requests:
        line = f"+{r['send_offset_s']:>8.3f}s  call {r['call']}  {r['method']} {r['path']}  [{r['step']}]  {len(r['body'])} bytes"
        print(printable(line))
    return 0


def _cmd_rules(args: argparse.Namespace) -> int:
    from ._profile import load_profile
    from ._rules import render_rules

    contract = load_profile(args.target).contract if args.target else None
    text = render_rules(contract, strict=False)
    for line in text.splitlines():
        if " left out: " in line:
            print(f"callprobe: note: {line.strip().lstrip('# ')}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ._allure_render import render_report

    seconds = render_report(Path(args.results), Path(args.output))
    print(f"report: {(Path(args.output) / 'index.html').resolve().as_uri()} (rendered in {seconds:.1f} s)")
    return 0


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (the servers' foreground)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(3600):
        pass


def start_server(app: Any, host: str, port: int = 0) -> RunningServer:
    """``serve_in_thread``, with an address it cannot listen on as a ProbeError (one line, exit 2)."""
    from mocks._serve import serve_in_thread

    try:
        return serve_in_thread(app, host=host, port=port)
    except RuntimeError as exc:
        raise ProbeError(str(exc)) from None


def _serve_forever(app: Any, host: str, port: int, banner: Callable[[str], str]) -> int:
    server = start_server(app, host, port)
    print(banner(server.url), file=sys.stderr, flush=True)
    try:
        wait_for_signal()
    finally:
        mock = getattr(app.state, "mock", None)
        if mock is not None:
            mock.release()  # a scripted hang must not hold up the shutdown
        server.stop()
    return 0


def _cmd_mock_calcom(args: argparse.Namespace) -> int:
    from mocks.calcom import create_app

    return _serve_forever(create_app(), args.host, args.port, lambda url: f"Cal.com mock on {url} (admin API {url}/__admin)")


def _cmd_sink(args: argparse.Namespace) -> int:
    from mocks.sinks import create_otlp_app, create_sentry_app, create_sink_app

    kinds: dict[str, tuple[Callable[[], Any], str]] = {
        "slack": (create_sink_app, "Slack-compatible sink on {url} (post to {url}/slack/…; read {url}/api/messages)"),
        "otlp": (create_otlp_app, "OTLP/HTTP trace receiver on {url} (export to {url}/v1/traces; read {url}/api/spans)"),
        "sentry": (create_sentry_app, "Sentry envelope receiver on {url} (DSN http://public@<host:port>/1; read {url}/api/events)"),
    }
    factory, text = kinds[args.kind]
    return _serve_forever(factory(), args.host, args.port, lambda url: text.format(url=url))


def _cmd_gateway(args: argparse.Namespace) -> int:
    from mocks.gateway import DEFECTS

    if args.list_defects:
        width = max(len(n) for n in DEFECTS)
        for name, text in sorted(DEFECTS.items()):
            print(f"{name:<{width}}  {text}")
        return 0
    extra: dict[str, RunningServer] = {}  # embedded servers by name, stopped whatever happens
    try:
        return _run_gateway(args, extra)
    finally:
        for server in extra.values():
            server.stop()


def _run_gateway(args: argparse.Namespace, extra: dict[str, RunningServer]) -> int:
    """Start what the gateway talks to (unless given), configure it and serve until a signal.

    Without ``--calcom-url`` the gateway is self-contained: what it talks to
    runs in this process, in ``extra``.
    """
    from mocks.calcom import create_app as calcom_app
    from mocks.gateway import GatewayConfig, create_app
    from mocks.sinks import create_otlp_app, create_sentry_app, create_sink_app

    def embed(name: str, app: Any) -> RunningServer:
        extra[name] = start_server(app, args.host)
        return extra[name]

    self_contained = args.calcom_url is None
    calcom_url = args.calcom_url or embed("Cal.com mock", calcom_app()).url
    alert_url = os.environ.get(ENV_ALERT_WEBHOOK) or f"{embed('alert sink', create_sink_app()).url}/slack/alerts"
    otlp, dsn = args.otlp_endpoint, os.environ.get(ENV_SENTRY_DSN)
    if otlp is None and self_contained:
        otlp = embed("OTLP trace receiver", create_otlp_app()).url
    if dsn is None and self_contained:
        receiver = embed("Sentry receiver", create_sentry_app())
        dsn = f"http://public@{receiver.host}:{receiver.port}/1"
    config = GatewayConfig(
        retell_api_key=os.environ.get(ENV_RETELL_API_KEY) or DEMO_RETELL_API_KEY,
        calcom_url=calcom_url,
        calcom_api_key=os.environ.get(ENV_CALCOM_API_KEY) or (DEMO_CALCOM_API_KEY if self_contained else None),
        metrics_token=os.environ.get(ENV_METRICS_TOKEN) or DEMO_METRICS_TOKEN,
        alert_webhook_url=alert_url,
        log_file=args.log_file,
        alert_cooldown_s=args.alert_cooldown,
        otlp_endpoint=otlp,
        sentry_dsn=dsn,
        defects=frozenset(args.defect),
    )

    def banner(url: str) -> str:
        lines = [f"reference gateway on {url}", f"  Cal.com: {calcom_url}"]
        lines += [f"  embedded {name}: {server.url}" for name, server in extra.items()]
        lines.append(f"  traces: {'OTLP/HTTP to ' + otlp if otlp else 'off'}; error reports: {'on' if dsn else 'off'}")
        if args.defect:
            lines.append(f"  seeded defects: {', '.join(sorted(args.defect))}")
        return "\n".join(lines)

    return _serve_forever(create_app(config), args.host, args.port, banner)


def _seconds(text: str) -> float:
    """A duration for argparse: a finite number of seconds, 0 or more (``float()`` alone takes nan and inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of seconds >= 0")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as the one ``callprobe: error: …`` line every other error is."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"callprobe: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="callprobe", description="Synthetic test calls for voice-AI phone gateways.")
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="print the signed HTTP requests of one synthetic call")
    plan.add_argument("scenario", help="scenario file, or the name of one in ./scenarios")
    plan.add_argument("--seed", type=int, default=None, help="overrides the scenario's seed")
    plan.add_argument("--format", choices=("json", "text"), default="text")
    plan.add_argument("--start", default=None, help="call start time (ISO 8601) or 'now' (default)")
    plan.add_argument("--redact", action="store_true", help="hide signatures (for sharing the output)")
    plan.set_defaults(func=_cmd_plan)

    rules = sub.add_parser("rules", help="print the shipped Prometheus alert rules in a target's words")
    rules.add_argument("--target", default=None, metavar="PROFILE",
                       help="target profile whose contract names the metrics (default: the contract's defaults)")
    rules.add_argument("-o", "--output", default=None, metavar="FILE", help="write the rules to FILE instead of stdout")
    rules.set_defaults(func=_cmd_rules)

    report = sub.add_parser("report", help="render Allure results into one offline HTML file (npx allure@3)")
    report.add_argument("results", nargs="?", default="allure-results", help="the --alluredir folder (default allure-results)")
    report.add_argument("-o", "--output", default="allure-report", help="where index.html goes (default allure-report)")
    report.set_defaults(func=_cmd_report)

    mock = sub.add_parser("mock", help="run a mock service")
    mock_sub = mock.add_subparsers(dest="mock", required=True)
    calcom = mock_sub.add_parser("calcom", help="the Cal.com API mock with its /__admin API")
    calcom.add_argument("--port", type=_port, default=8090)
    calcom.add_argument("--host", type=_host, default="127.0.0.1")
    calcom.set_defaults(func=_cmd_mock_calcom)

    sink = sub.add_parser("sink", help="a receiver that records what a gateway sends out (alerts, spans, error events)")
    sink.add_argument("--kind", choices=("slack", "otlp", "sentry"), default="slack",
                      help="slack: incoming-webhook alerts; otlp: OTLP/HTTP traces; sentry: Sentry envelopes")
    sink.add_argument("--port", type=_port, default=8091)
    sink.add_argument("--host", type=_host, default="127.0.0.1")
    sink.set_defaults(func=_cmd_sink)

    gw = sub.add_parser("gateway", help="run the reference gateway (the embedded default target)")
    gw.add_argument("--port", type=_port, default=8080)
    gw.add_argument("--host", type=_host, default="127.0.0.1")
    gw.add_argument("--calcom-url", default=None, help="Cal.com base URL (default: an embedded Cal.com mock)")
    gw.add_argument("--log-file", default=None, help="also write JSON log lines to this file")
    gw.add_argument("--otlp-endpoint", default=None, metavar="URL",
                    help="export spans over OTLP/HTTP to URL/v1/traces (error reports: CALLPROBE_SENTRY_DSN)")
    gw.add_argument("--alert-cooldown", type=_seconds, default=300.0, metavar="SECONDS",
                    help="silence per alert group after an alert (default 300)")
    gw.add_argument("--defect", action="append", default=[], metavar="NAME", help="seed a defect (repeatable)")
    gw.add_argument("--list-defects", action="store_true", help="list the seeded defects and exit")
    gw.set_defaults(func=_cmd_gateway)
    for module in COMMAND_MODULES:
        importlib.import_module(module, __package__).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ProbeError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (``callprobe rules | head``): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        _error(f"{exc.strerror or exc} ({getattr(exc, 'filename', '') or 'network'})")
        return EXIT_USAGE
    except Exception as exc:  # a callprobe bug: say where, never a frame's locals or a secret
        from ._report import describe_exception

        _error(f"internal error (please report it): {describe_exception(exc, _env_redactor())}")
        return EXIT_HARNESS


def _error(message: str) -> None:
    """One ``callprobe: error: …`` paragraph on stderr: secrets from the environment masked, control characters escaped."""
    print(f"callprobe: error: {printable(_env_redactor().text(message))}", file=sys.stderr)


def _env_redactor() -> Any:
    from ._redact import Redactor

    names = (ENV_RETELL_API_KEY, ENV_METRICS_TOKEN, ENV_CALCOM_API_KEY, ENV_ALERT_WEBHOOK, ENV_SENTRY_DSN)
    return Redactor(secrets=[os.environ.get(n, "") for n in names])


if __name__ == "__main__":
    sys.exit(main())
