"""Progress of `telemetry import` on stderr: a bar on a terminal, plain lines elsewhere.

On a terminal, tqdm draws the bar with the rate and the time left. Into a file or a
pipe a bar is noise, so a line is written every `every` seconds instead. Refused rows are
listed as FILE:LINE: why, the first `max_listed` of them; the rest are only counted.
Without a total (a pipe, whose rows cannot be counted ahead), the rate and the rows done.
"""

from __future__ import annotations

import os
import time
from typing import Never, TextIO

from tqdm import tqdm


class Progress:
    """Reports rows done out of `total` (if known), and refused rows, on `stream`."""

    def __init__(
        self,
        label: str,
        total: int | None,
        stream: TextIO,
        *,
        every: float = 10.0,
        max_listed: int = 100,
    ) -> None:
        self._label = label
        self._total = total
        self._stream = stream
        self._every = every
        self._max_listed = max_listed
        self._started = self._last_line = time.monotonic()
        self._bar: tqdm[Never] | None = None
        if stream.isatty():
            # A terminal that does not say its size (0 x 0) would get no bar at all.
            size = os.get_terminal_size(stream.fileno())
            self._bar = tqdm(
                total=total,
                unit=" rows",
                file=stream,
                ncols=size.columns or 80,
                nrows=size.lines or 24,
            )

    def advance(self, rows: int) -> None:
        """`rows` rows are done (stored, or refused)."""
        if self._bar is not None:
            self._bar.update(rows - self._bar.n)
            return
        now = time.monotonic()
        if now - self._last_line >= self._every:
            self._last_line = now
            rate = rows / (now - self._started)
            if self._total is None:
                self._write(f"{self._label}: {rows:,} rows, {rate:,.0f} rows/s")
                return
            left = (self._total - rows) / rate if rate > 0 and self._total > rows else 0.0
            self._write(
                f"{self._label}: {rows:,} of about {self._total:,} rows, "
                f"{rate:,.0f} rows/s, about {left:.0f} s left"
            )

    def refused(self, line: int, message: str, refused_so_far: int) -> None:
        """Row at `line` was refused; list it while fewer than `max_listed` were."""
        if refused_so_far <= self._max_listed:
            self._write(f"{self._label}:{line}: {message}")
        elif refused_so_far == self._max_listed + 1:
            self._write(f"{self._label}: further refused rows are counted, not listed")

    def stopped(self, line: int, message: str) -> None:
        """Reading stopped at `line`, for the reason `message`: always listed."""
        self._write(f"{self._label}:{line}: {message}")

    def close(self) -> None:
        """Finish the bar, if any, leaving it on screen."""
        if self._bar is not None:
            self._bar.close()

    def _write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self._stream)  # above the bar, which is redrawn
        else:
            print(text, file=self._stream, flush=True)
