"""``callprobe exporter``: serve ``/probe`` for Prometheus until SIGTERM, then let running probes clean up."""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
from typing import Any

from .._argtypes import bounded_int, listen_host, port
from .._errors import ConfigError
from .._probeconfig import EMBEDDED, load_config

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    exporter = sub.add_parser("exporter", help="serve synthetic-call probes to Prometheus (blackbox_exporter's /probe interface)",
                              description="GET /probe?module=<module or scenario>&target=<target name>[&debug=true]; "
                                          "own metrics at /metrics, recent probes at /.")
    exporter.add_argument("--config", default=None, metavar="FILE",
                          help="targets and modules (default: every scenario in ./scenarios, the embedded target)")
    exporter.add_argument("--port", type=port, default=9116)
    exporter.add_argument("--host", type=listen_host, default="127.0.0.1")
    exporter.add_argument("--concurrency", type=bounded_int(1, 256), default=None, metavar="N",
                          help="probes running at once (default: the config's, else 4)")
    exporter.set_defaults(func=cmd_exporter)


def cmd_exporter(args: argparse.Namespace) -> int:
    from .._cli import start_server, wait_for_signal
    from ._server import Exporter, create_app, validate

    config = load_config(args.config)
    validate(config)
    if not config.modules:
        raise ConfigError(f"{config.source}: no modules and no scenarios found (scenario_dirs)")
    exporter = Exporter(config, concurrency=args.concurrency)
    app = create_app(exporter)
    server = start_server(app, args.host, args.port)
    example = next((name for name in sorted(config.targets) if name != EMBEDDED), EMBEDDED)
    print(f"callprobe exporter on {server.url} ({len(config.modules)} modules, targets: {', '.join(sorted(config.targets))}; "
          f"{exporter.concurrency} probes at once)\n  try {server.url}/probe?module={min(config.modules)}&target={example}&debug=true",
          flush=True)
    try:
        wait_for_signal()
    finally:
        grace = config.exporter.shutdown_grace
        loop = app.state.loop
        if loop is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(exporter.shutdown(), loop).result(grace + 30)
            except concurrent.futures.TimeoutError:
                pass
        server.stop(timeout=grace + 30)
    return 0
