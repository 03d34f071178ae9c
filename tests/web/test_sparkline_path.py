"""The tiles' sparklines: one path, broken where minutes are missing."""

from __future__ import annotations

from app.web.templating import sparkline_path


def test_runs_are_lines_lone_minutes_dots_and_missing_minutes_gaps() -> None:
    points = [1.0, 2.0, None, 3.0, None, None, 2.0, 1.0]
    assert sparkline_path(points) == "M0.0 26.0 L17.1 14.0 M51.4 2.0 h0.1 M102.9 14.0 L120.0 26.0"


def test_a_lone_minute_between_gaps_is_a_dot_and_a_flat_line_sits_at_the_bottom() -> None:
    assert sparkline_path([None, 5.0, None]) == "M60.0 26.0 h0.1"
    assert sparkline_path([4.0, 4.0]) == "M0.0 26.0 L120.0 26.0"
    assert sparkline_path([None, None]) == ""
