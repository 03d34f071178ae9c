"""The server answers as its OpenAPI document says, checked by Schemathesis.

Schemathesis, which nobody here wrote, reads /openapi.json and sends what it allows and
what it forbids, then checks every answer against it: no server error, every status
code, body, header and content type documented, invalid requests refused, valid ones
accepted, the device token enforced, no method answered that is not documented. It runs
as `st run`, the command anyone can repeat against their own server, against a real
server on loopback with a device registered (through the context) and some readings
stored, so that the reads find data. schemathesis.toml holds the seed, the number of
cases and every check excluded for an operation, with its reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx

from tests.factories import add_device, bearer, make_settings
from tests.servers import run_live_server

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
        run = subprocess.run(
            [
                SCHEMATHESIS,
                "--config-file",
                ROOT / "schemathesis.toml",
                "run",
                f"{server.url}/openapi.json",
            ],
            cwd=ROOT,
            env={**os.environ, "TELEMETRY_FUZZ_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert run.returncode == 0, run.stdout[-30_000:] + run.stderr[-5_000:]
