"""`telemetry serve`: migrate, offer the first admin's setup address, run the server."""

from __future__ import annotations

import argparse
import sys

from app.accounts import Accounts
from app.cli.accounts import open_accounts
from app.cli.schema import display_url, logger
from app.config import Settings

# Addresses that mean "every interface": no browser can open them.
_ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104  (recognised, not bound)
_RULE = "=" * 78


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate, then serve until SIGTERM or SIGINT."""
    from app import serving  # uvicorn and the whole app: only for this command

    host = args.host or settings.host
    port = args.port or settings.port
    with open_accounts(settings) as accounts:  # migrates first
        logger.info(
            "serving on http://%s:%d (database %s)", host, port, display_url(settings.database_url)
        )
        # Before the server starts, so that its workers never race to issue codes.
        announce_first_run(accounts, host=host, port=port)
    run = serving.serve_reloading if args.reload else serving.serve
    run(settings, host=host, port=port, access_log=args.access_log)
    return 0


def announce_first_run(
    accounts: Accounts, *, host: str, port: int, root_path: str = ""
) -> str | None:
    """While no user exists, issue a setup code; print and log the address that uses it.

    Returns the notice printed, or None when a user exists (nothing is printed then).
    """
    code = accounts.first_run.issue_code()
    if code is None:
        return None
    path = f"{root_path.rstrip('/')}/setup?code={code}"
    if host in _ANY_ADDRESS:
        remote = f"http://<this machine's address>:{port}{path}"
        local = f"http://127.0.0.1:{port}{path}"
        where = [remote, "", "or, on this machine:", "", f"    {local}"]
        logged = f"{remote} (or {local} on this machine)"
    else:
        address = f"[{host}]" if ":" in host and not host.startswith("[") else host
        url = f"http://{address}:{port}{path}"
        where, logged = [url], url
    notice = "\n".join(
        [
            "",
            _RULE,
            "No user exists yet. To create the first admin, open:",
            "",
            f"    {where[0]}",
            *where[1:],
            "",
            "The address works once: it creates the first admin, then stops working",
            "(restarting `telemetry serve` while no user exists gives a new one).",
            "Or create the first admin on this machine: telemetry user add NAME --admin",
            _RULE,
            "",
        ]
    )
    print(notice, file=sys.stderr, flush=True)
    # Logged too, as one line: a service's log may be all its operator sees.
    logger.warning(
        "no user exists yet: create the first admin at %s (works once), "
        "or with `telemetry user add NAME --admin`",
        logged,
    )
    return notice


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `telemetry serve`."""
    parser.add_argument("--host", help="address to listen on (default: TELEMETRY_HOST, 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="port to listen on (default: TELEMETRY_PORT, 8000)"
    )
    parser.add_argument("--reload", action="store_true", help="restart when the code changes")
    parser.add_argument("--access-log", action="store_true", help="log every request")
