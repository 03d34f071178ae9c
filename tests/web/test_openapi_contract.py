"""The server answers as its OpenAPI document says, checked by Schemathesis.

Schemathesis, which nobody here wrote, reads /openapi.json and sends what it allows and
what it forbids, then checks every answer against it: no server error, every status
code, body, header and content type documented, invalid requests refused, valid ones
accepted, the device token enforced, no method answered that is not documented. It runs
as `st run`, the command anyone can repeat against their own server, against a real
server on loopback with a device registered (through the context) and some readings
stored, so that the reads find data. schemathesis.toml holds the seed, the number of
cases and every check excluded for an operation, with its reason. A second run sends an
admin's personal token to the operations of people: users, sessions, notes,
notifications and presence.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx

from tests.factories import add_device, bearer, make_settings
from tests.servers import LiveServer, run_live_server
from tests.signing_in import make_account

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "st"


def test_every_answer_is_one_the_openapi_document_states(sqlite_url: str) -> None:
    # Rate limits off (make_settings) and room for every quantity name generated: both
    # are bounds on what a client sends over many requests, which no schema can state.
    settings = make_settings(sqlite_url, max_quantities_per_device=10_000)
    with run_live_server(settings) as server:
        token = add_device(server.app, "greenhouse")
        now = datetime.now(UTC)
        body = {
            "measurements": [
                {
                    "measured_at": (now - timedelta(minutes=m)).isoformat(),
                    "values": {"temperature": 20 + m / 10},
                }
                for m in range(60)
            ]
        }
        stored = httpx.post(
            f"{server.url}/api/v1/measurements/batch", json=body, headers=bearer(token)
        )
        assert stored.status_code == 201, stored.text
        run = schemathesis(server, token)
    assert run.returncode == 0, run.stdout[-30_000:] + run.stderr[-5_000:]


def test_every_answer_to_an_admin_is_one_the_openapi_document_states(sqlite_url: str) -> None:
    # Whatever an admin sends to the operations of people, the answer is documented and
    # never a server error; "maria" is there to be named and mentioned. (The seeded cases
    # need not reach every edge: test_no_server_errors.py sends the ids beyond what a
    # database holds to every integer parameter.)
    with run_live_server(make_settings(sqlite_url)) as server:
        token = add_device(server.app, "greenhouse")
        admin = make_account(server.app, "root", role="admin")
        make_account(server.app, "maria")
        run = schemathesis(
            server,
            token,
            "--header",
            f"Authorization: Bearer {admin.token}",
            "--include-path-regex",
            "^/api/v1/(users|sessions|presence|notifications|devices/\\{name\\}/notes)",
        )
    assert run.returncode == 0, run.stdout[-30_000:] + run.stderr[-5_000:]


def schemathesis(
    server: LiveServer, device_token: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`st run` against `server` with schemathesis.toml; `args` added to the command."""
    return subprocess.run(
        [
            SCHEMATHESIS,
            "--config-file",
            ROOT / "schemathesis.toml",
            "run",
            f"{server.url}/openapi.json",
            *args,
        ],
        cwd=ROOT,
        env={**os.environ, "TELEMETRY_FUZZ_TOKEN": device_token},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
