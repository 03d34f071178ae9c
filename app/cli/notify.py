"""`telemetry notify`: send a notification from the server's shell, as the system.

It writes to the server's database like `telemetry user add`; this process has no bus
to the server, so a running server finds the notification by polling (within half a
second, app/web/live_bridge.py) and shows it in its recipients' open tabs.
"""

from __future__ import annotations

import argparse
import sys

from app.accounts import CLI, LEVELS, MESSAGE_MAX, NotificationError, UnknownUsers
from app.cli.accounts import open_accounts
from app.cli.commands import Command
from app.config import Settings

EX_USAGE = 2  # what argparse answers to bad arguments: a refused field is one too

DETAILS = """\
Send a notification to everyone (every user not disabled), or to the users named with
--user (repeat it for each). MESSAGE is plain text; `-` reads it from standard input.
It is stored in the database this server uses; a running server shows it as a toast in
the recipients' open tabs within about a second, and it stays in their inbox.

examples:
  telemetry notify --title "Heating off tonight" "The greenhouse heater is serviced from 22:00."
  echo "Check the vent" | telemetry notify --user maria --user jonas --level warning \\
      --link /devices/greenhouse --title "Vent" -
"""


def add_notify_arguments(parser: argparse.ArgumentParser) -> None:
    """MESSAGE, --title, and the optional --user, --level and --link."""
    parser.add_argument("--title", required=True, help="one line, at most 120 characters")
    parser.add_argument("message", metavar="MESSAGE", help="the text, or - to read standard input")
    parser.add_argument(
        "--user",
        dest="users",
        action="append",
        metavar="NAME",
        help="a recipient's user name (repeat for several; none: everyone)",
    )
    parser.add_argument("--level", choices=LEVELS, default="info", help="default: info")
    parser.add_argument("--link", metavar="/PATH", help="a page of the dashboard to open")


def _message(raw: str) -> str:
    if raw != "-":
        return raw
    # One character more than allowed is enough to say it is too long.
    return sys.stdin.read(MESSAGE_MAX * 4 + 1)


def cmd_notify(settings: Settings, args: argparse.Namespace) -> int:
    """Store the notification for its recipients; print what was sent."""
    message = _message(args.message)
    with open_accounts(settings) as accounts:
        try:
            sent = accounts.notifications.send(
                args.title,
                message,
                level=args.level,
                link=args.link,
                sender_id=None,
                users=args.users,
                actor=CLI,
            )
        except UnknownUsers as exc:
            print(f"telemetry: {exc}: `telemetry user list` lists the users", file=sys.stderr)
            return EX_USAGE
        except NotificationError as exc:
            print(f"telemetry: {exc.field}: {exc}", file=sys.stderr)
            return EX_USAGE
    count = len(sent.unread)
    notification = sent.notification
    print(
        f'sent "{notification.title}" to {count} user{"" if count == 1 else "s"} '
        f"(notification {notification.id})"
    )
    return 0


NOTIFY = Command(
    "notify",
    "send a notification to everyone or to some users (shown live in their tabs)",
    cmd_notify,
    add_notify_arguments,
    details=DETAILS,
)
