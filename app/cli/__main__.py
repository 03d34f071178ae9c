"""`python -m app.cli`: the `telemetry` command without its console script."""

from __future__ import annotations

import sys

from app.cli import main

sys.exit(main())
