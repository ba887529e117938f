"""``python -m examples.other_gateway``: run the gateway on a loopback port.

Secrets come from the environment (``RETELL_API_KEY``, ``OTHERGW_METRICS_TOKEN``,
``CALCOM_API_KEY``), never from the command line where ``ps`` would show them.
Any bad input ends the process with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from pathlib import Path
from typing import NoReturn

import uvicorn

from .app import create_app
from .settings import DEFECTS, Settings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        _die(message)


def _die(message: str) -> NoReturn:
    print(f"othergw: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m examples.other_gateway", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True, help="TCP port (0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--calcom-url", required=True, help="Cal.com API base, e.g. https://api.cal.com")
    p.add_argument("--log-file", required=True, type=Path, help="JSON-lines log file (appended)")
    p.add_argument("--alert-webhook-url", help="Slack incoming-webhook URL for alerts")
    p.add_argument("--event-type-id", type=int, default=1002, help="Cal.com event type to book (default 1002)")
    p.add_argument("--alert-cooldown", type=float, default=300.0, help="seconds an alert kind stays quiet")
    p.add_argument("--defect", action="append", default=[], metavar="NAME",
                   help=f"switch on a seeded defect (repeatable): {', '.join(DEFECTS)}")
    return p


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        _die(f"--port {args.port} is not a TCP port")
    folder = args.log_file.parent if str(args.log_file.parent) else Path(".")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        _die(f"--log-file: folder {folder} does not exist or is not writable")
    try:
        settings = Settings(
            calcom_url=args.calcom_url,
            retell_api_key=os.environ.get("RETELL_API_KEY", ""),
            metrics_token=os.environ.get("OTHERGW_METRICS_TOKEN", ""),
            calcom_api_key=os.environ.get("CALCOM_API_KEY") or None,
            log_file=args.log_file,
            alert_webhook_url=args.alert_webhook_url,
            event_type_id=args.event_type_id,
            alert_cooldown_s=args.alert_cooldown,
            defects=frozenset(args.defect),
        )
    except ValueError as exc:
        _die(str(exc))
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP proto: asyncio sets NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(2048)  # connections queue from now on, before uvicorn takes over
    except (OSError, OverflowError) as exc:
        _die(f"cannot listen on {args.host}:{args.port}: {getattr(exc, 'strerror', None) or exc}")
    try:
        app = create_app(settings)
    except OSError as exc:
        _die(f"--log-file {args.log_file}: {exc.strerror or exc}")
    print(f"othergw listening on http://{args.host}:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn shut down cleanly, then re-raised Ctrl-C
        server.run(sockets=[sock])


if __name__ == "__main__":
    main()
