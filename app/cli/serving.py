"""`telemetry serve`: migrate, then run the server until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse

from app.cli.schema import display_url, logger, migrate
from app.config import Settings


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate, then serve until SIGTERM or SIGINT."""
    from app import serving  # uvicorn and the whole app: only for this command

    migrate(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    logger.info(
        "serving on http://%s:%d (database %s)", host, port, display_url(settings.database_url)
    )
    run = serving.serve_reloading if args.reload else serving.serve
    run(settings, host=host, port=port, access_log=args.access_log)
    return 0


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `telemetry serve`."""
    parser.add_argument("--host", help="address to listen on (default: TELEMETRY_HOST, 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="port to listen on (default: TELEMETRY_PORT, 8000)"
    )
    parser.add_argument("--reload", action="store_true", help="restart when the code changes")
    parser.add_argument("--access-log", action="store_true", help="log every request")
