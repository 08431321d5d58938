"""The ``roost`` command line. ``roost serve`` starts the API server.

Exit codes: 0 ok, 1 the server refused or failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from roost.app import create_app
    from roost.config import Settings

    settings = Settings.from_env(host=args.host, port=args.port, data_dir=args.data_dir)
    settings.demo = bool(args.demo)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # chDB releases the GIL while a query runs; a short switch interval lets the event loop take it
    # back quickly when a query completes (performance.md: the GIL convoy effect).
    sys.setswitchinterval(0.0005)
    app = create_app(settings)
    print(f"Roost listening on http://{settings.host}:{settings.port} (web UI at /ui/, data in "
          f"{Path(settings.data_dir).resolve()})", file=sys.stderr)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", loop="uvloop",
                http="httptools", lifespan="on", timeout_graceful_shutdown=10,
                access_log=False)  # URLs may carry ?token=: never log them
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roost", description="Roost: a self-hosted, Tinybird-compatible analytics API")
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("serve", help="start the API server")
    s.add_argument("--host", default=None, help="address to listen on (ROOST_HOST, default 127.0.0.1)")
    s.add_argument("--port", type=int, default=None, help="port (ROOST_PORT, default 7181)")
    s.add_argument("--data-dir", default=None, help="data folder (ROOST_DATA_DIR, default ./roost-data)")
    s.add_argument("--demo", action="store_true", help="load the demo dataset, endpoint and user tokens")
    s.set_defaults(func=_serve)
    try:
        from roost.cli_client import add_client_commands

        add_client_commands(sub)
    except ModuleNotFoundError as e:
        if e.name != "roost.cli_client":
            raise
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
