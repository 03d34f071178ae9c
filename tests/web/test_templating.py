"""Tiles as the templates draw them: values a browser can reformat, sparklines a person
can read however sparse, and the age of values that are not fresh."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.live.state import DeviceView, Status
from app.web.templating import SPARK_HEIGHT, Templates, sparkline
from tests.factories import T0, inserted


def test_a_single_minute_is_drawn_as_a_dot() -> None:
    drawn = sparkline([None] * 59 + [21.5], precision=1)
    assert drawn.points == 1
    assert drawn.dots.startswith("M120.0 ") and drawn.dots.endswith("h0")


def test_two_close_readings_draw_a_gentle_slope_not_a_wall() -> None:
    # 21.5 then 21.6: a tenth of a degree, a tenth of the least span the height shows.
    drawn = sparkline([None] * 58 + [21.5, 21.6], precision=1)
    ys = [float(y) for y in re.findall(r"[ML][\d.]+ ([\d.]+)", drawn.line)]
    assert len(ys) == 2
    assert abs(ys[0] - ys[1]) < SPARK_HEIGHT / 5


def test_few_points_are_all_dotted_and_many_only_where_alone() -> None:
    few = sparkline([None, 1.0, 2.0, None, 3.0] + [None] * 55, precision=1)
    assert few.dots.count("h0") == 3
    many = [float(i) for i in range(30)] + [None, 5.0, None] + [float(i) for i in range(27)]
    assert sparkline(many, precision=1).dots.count("h0") == 1  # the lone minute only


def test_an_hour_without_readings_draws_nothing() -> None:
    assert sparkline([None] * 60, precision=1).points == 0


def tile(view: DeviceView, seconds: float) -> str:
    now = T0 + timedelta(seconds=seconds)
    view.status = view.status_at(now)
    return Templates().tile(view, now)


def test_a_backfilled_reading_shows_its_age_and_the_device_is_not_live() -> None:
    view = DeviceView(1, "pi-1")
    fifteen_days = -15 * 86400
    view.apply(inserted(1, fifteen_days, temperature=21.5), T0)
    html = tile(view, 5)
    assert view.status is Status.OFFLINE
    assert 'class="age"' in html
    assert f'datetime="{(T0 + timedelta(seconds=fifteen_days)).isoformat()[:19]}Z"' in html
    assert "received" in html  # heard from just now, though the reading is old


def test_a_fresh_value_shows_no_age() -> None:
    view = DeviceView(1, "pi-1")
    for s in (0, 10, 20):
        view.apply(inserted(1, s, temperature=21.5), T0 + timedelta(seconds=s))
    html = tile(view, 25)
    assert view.status is Status.LIVE
    assert 'class="age"' not in html
    assert 'data-value="21.5" data-precision="1" data-unit="°C"' in html


def test_a_quantity_that_stopped_while_others_continue_shows_its_age() -> None:
    view = DeviceView(1, "pi-1")
    view.apply(inserted(1, 0, temperature=21.5, humidity=40.0), T0)
    for s in (10, 20, 30, 40, 50, 60):
        view.apply(inserted(1, s, temperature=21.5), T0 + timedelta(seconds=s))
    html = tile(view, 61)
    humidity = html[html.index('data-quantity="humidity"') :]
    humidity = humidity[: humidity.index("</dd>")]
    temperature = html[html.index('data-quantity="temperature"') :]
    temperature = temperature[: temperature.index("</dd>")]
    assert 'class="age"' in humidity
    assert 'class="age"' not in temperature


def test_runs_are_lines_broken_where_minutes_are_missing() -> None:
    drawn = sparkline([1.0, 2.0, None, 3.0, None, None, 2.0, 1.0], precision=0)
    # 1..3 is less than ten steps of the precision: centred in a span of 10 (-3..7).
    assert drawn.line == "M0.0 16.2 L17.1 14.0 M51.4 11.8 M102.9 14.0 L120.0 16.2"
    assert drawn.line.count("M") == 3  # three runs, two gaps
    assert drawn.dots.count("h0") == 5  # few points: every one is marked


@pytest.mark.parametrize(
    "points", [[1e308, -1e308], [1e300, 1e300 * (1 + 1e-16)], [-1.7e308, 1.7e308, None, 0.0]]
)
def test_sparklines_of_extreme_values_are_drawn_flat_not_crashed_on(
    points: list[float | None],
) -> None:
    drawn = sparkline(points, 1)
    assert drawn.line and "nan" not in drawn.line and "inf" not in drawn.line
