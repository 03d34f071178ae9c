"""A device's page as a new user sees it, in Chromium at a phone's, a tablet's and a
desktop's width, with every request beyond loopback refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest

from tests.browser.conftest import refuse_outside
from tests.factories import add_device
from tests.servers import LiveServer, post_reading, post_readings

PHONE, TABLET, DESKTOP = (390, 844), (768, 1024), (1400, 900)


@pytest.fixture
def sized(browser: Any) -> Iterator[Any]:
    """Pages of a given viewport and language, refusing requests beyond loopback."""
    contexts: list[Any] = []

    def open_page(size: tuple[int, int], locale: str = "en-US", scheme: str = "light") -> Any:
        context = browser.new_context(
            viewport={"width": size[0], "height": size[1]}, locale=locale, color_scheme=scheme
        )
        context.outside = []
        context.route("**/*", lambda route: refuse_outside(context, route))
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        assert context.outside == [], "the page asked for something beyond this machine"
        context.close()


def minutes_of(quantity: str, values: list[float]) -> list[tuple[datetime, dict[str, float]]]:
    """One reading a minute, the last one now."""
    now = datetime.now(UTC)
    count = len(values)
    return [(now - timedelta(minutes=count - 1 - i), {quantity: v}) for i, v in enumerate(values)]


def drawn(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#connection[data-state='open']")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.plot')].every(p => p.dataset.state === 'drawn')"
    )


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and (b["top"] < a["bottom"])
    )


def test_ten_minutes_of_data_open_on_the_hour_and_a_reload_keeps_the_range(
    page: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post_readings(server, token, minutes_of("temperature", [20.0 + i / 10 for i in range(10)]))
    drawn(page, server.url + "/devices/greenhouse")
    assert page.locator(".presets a[aria-current='true']").text_content() == "1h"
    assert page.url.endswith("/devices/greenhouse?range=1h")
    page.locator(".presets a", has_text="7d").click()
    page.wait_for_url("**/devices/greenhouse?range=7d")
    page.reload()
    assert page.locator(".presets a[aria-current='true']").text_content() == "7d"
    assert page.errors == []


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_value_axis_fits_its_labels_and_its_unit_overlaps_none(
    sized: Any, server: LiveServer, size: tuple[int, int]
) -> None:
    token = add_device(server.app, "barometer")
    post_readings(server, token, minutes_of("pressure", [1013.9 + i / 20 for i in range(24)]))
    page = sized(size)
    drawn(page, server.url + "/devices/barometer?range=1h")
    (chart,) = page.evaluate("window.chartAxisBoxes()")
    labels, caption = chart["labels"], chart["caption"]
    assert len(labels) >= 2
    assert caption["text"] == "hPa"
    for label in labels:
        assert "," in label["text"], "thousands grouped as the page's language does"
        assert float(label["text"].replace(",", "")) == pytest.approx(label["value"]), label
        assert label["left"] >= chart["canvas"]["left"] - 0.5, f"{label} is cut off"
        assert label["right"] <= chart["plotLeft"] + 0.5, f"{label} runs into the plot"
        assert not overlaps(label, caption), f"the unit is drawn over {label['text']}"
    assert page.errors == []


def test_numbers_read_the_same_on_the_tile_the_axis_and_the_readout(
    sized: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "barometer")
    post_readings(server, token, minutes_of("pressure", [1014.6] * 3))
    page = sized(DESKTOP, locale="de-DE")
    drawn(page, server.url + "/devices/barometer?range=1h")
    number = page.locator("#tile-1 [data-quantity='pressure'] .number").text_content()
    assert number == "1.014,6"
    assert "mean 1.014,6 hPa" in str(page.locator(".readout").text_content())
    labels = [label["text"] for label in page.evaluate("window.chartAxisBoxes()")[0]["labels"]]
    assert all(label.count(",") == 1 and label.startswith("1.0") for label in labels), labels


def test_the_legend_says_nothing_empty_and_follows_the_pointer(
    page: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post_readings(server, token, minutes_of("temperature", [20.0, 20.5, 21.0]))
    drawn(page, server.url + "/devices/greenhouse?range=1h")
    body = str(page.locator("body").text_content())
    assert "--" not in body and "Time:" not in body
    readout = page.locator(".readout")
    assert str(readout.text_content()).startswith("Newest: ")
    assert "mean 21.0 °C" in str(readout.text_content())
    box = page.locator(".plot .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
    assert "no readings" in str(readout.text_content())  # early in the hour: a gap
    newest = page.evaluate(
        """(() => { const data = window.chartData()[0], u = document.querySelector('.plot').chart;
        const i = data.count.map((c, i) => c ? i : -1).filter(i => i >= 0).pop();
        return u.valToPos(data.t[i], 'x'); })()"""
    )
    page.mouse.move(box["x"] + newest, box["y"] + box["height"] / 2)
    assert "mean 21.0 °C" in str(readout.text_content())


@pytest.mark.parametrize("size", [PHONE, TABLET, DESKTOP], ids=["phone", "tablet", "desktop"])
def test_the_page_is_laid_out_for_its_width(
    sized: Any, server: LiveServer, size: tuple[int, int]
) -> None:
    token = add_device(server.app, "greenhouse")
    post_readings(
        server,
        token,
        [(at, v | {"humidity": 50.0}) for at, v in minutes_of("temperature", [20.0] * 5)],
    )
    page = sized(size)
    drawn(page, server.url + "/devices/greenhouse")
    width = size[0]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "nothing wider"
    presets = [page.locator(".presets a").nth(i).bounding_box() for i in range(5)]
    assert len({round(box["y"]) for box in presets}) == 1, "the ranges stay on one row"
    form = page.locator(".custom-range").bounding_box()
    last = presets[-1]
    assert form["y"] >= last["y"] + last["height"] or form["x"] >= last["x"] + last["width"]
    # The inputs and the button are one family with the range buttons.
    heights = {
        round(page.locator(selector).bounding_box()["height"])
        for selector in ("input[name='from_local']", ".custom-range button")
    }
    assert max(heights) - min(heights) <= 2
    radius = page.evaluate(
        "getComputedStyle(document.querySelector(\"input[name='from_local']\")).borderRadius"
    )
    assert radius != "0px"
    tile = page.locator(".device-tile .tile").bounding_box()
    charts = page.locator(".charts").bounding_box()
    assert tile["width"] >= charts["width"] - 1, "the summary spans the page"
    if width >= DESKTOP[0]:
        assert page.locator(".chart").nth(1).bounding_box()["y"] == pytest.approx(
            page.locator(".chart").nth(0).bounding_box()["y"]
        ), "two charts side by side on a desktop"


def contrast(a: list[int], b: list[int]) -> float:
    def luminance(rgb: list[int]) -> float:
        channels = [c / 255 for c in rgb]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


COLOURS = """() => {
  const rgb = (colour) => {
    const probe = document.createElement("span");
    probe.style.color = colour;
    document.body.append(probe);
    const parts = getComputedStyle(probe).color.match(/\\d+/g).slice(0, 3).map(Number);
    probe.remove();
    return parts;
  };
  const u = document.querySelector(".plot").chart;
  const card = getComputedStyle(document.querySelector(".chart")).backgroundColor;
  const readout = getComputedStyle(document.querySelector(".readout")).color;
  return { axis: rgb(u.axes[1].stroke(u, 1)), line: rgb(u.series[3].stroke(u, 3)),
           card: rgb(card), readout: rgb(readout) };
}"""


def test_charts_are_readable_in_dark_mode_and_follow_a_change_of_scheme(
    sized: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post_readings(server, token, minutes_of("temperature", [20.0, 20.5]))
    page = sized(DESKTOP, scheme="dark")
    drawn(page, server.url + "/devices/greenhouse?range=1h")
    dark = page.evaluate(COLOURS)
    assert sum(dark["card"]) < 200, "a dark card"
    for part in ("axis", "line", "readout"):
        assert contrast(dark[part], dark["card"]) >= 4.5, part
    page.emulate_media(color_scheme="light")
    page.wait_for_function(
        "() => (() => { const u = document.querySelector('.plot').chart;"
        " return u.axes[1].stroke(u, 1) === getComputedStyle(document.documentElement)"
        ".getPropertyValue('--muted').trim(); })()"
    )
    light = page.evaluate(COLOURS)
    assert sum(light["card"]) > 600, "a light card"
    for part in ("axis", "line", "readout"):
        assert contrast(light[part], light["card"]) >= 4.5, part


def test_temperature_in_fahrenheit_everywhere_it_is_shown_and_kept(
    page: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post_readings(server, token, minutes_of("temperature", [20.0, 20.0]))
    drawn(page, server.url + "/devices/greenhouse?range=1h")
    page.locator(".units-menu summary").click()
    page.locator("input[name='°C'][value='°F']").check()
    page.keyboard.press("Escape")
    assert page.evaluate("document.querySelector('.units-menu').open") is False
    number = "#tile-1 [data-quantity='temperature'] .number"
    assert page.locator(number).text_content() == "68.0"
    assert page.locator("#tile-1 [data-quantity='temperature'] .unit").text_content() == "°F"
    assert "mean 68.0 °F" in str(page.locator(".readout").text_content())
    assert page.locator(".chart h2").text_content() == "Temperature (°F)"
    labels = [label["text"] for label in page.evaluate("window.chartAxisBoxes()")[0]["labels"]]
    assert all(60 < float(text) < 80 for text in labels), labels
    post_reading(server, token, temperature=25.0)  # a live update arrives in °F
    page.wait_for_function(f"() => document.querySelector(\"{number}\").textContent === '77.0'")
    page.reload()
    page.wait_for_selector(".plot[data-state='drawn']")
    assert page.locator(number).text_content() == "77.0"
    # What is stored and downloaded stays in °C.
    link = page.locator("a[data-export='raw']").get_attribute("href")
    assert "20.0" in httpx.get(server.url + str(link)).text
    assert page.errors == []


def test_pressure_in_inches_of_mercury_with_one_more_decimal(
    sized: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "barometer")
    post_readings(server, token, minutes_of("pressure", [1014.6] * 2))
    page = sized(DESKTOP)
    page.add_init_script("localStorage.setItem('telemetry-units', '{\"hPa\": \"inHg\"}')")
    drawn(page, server.url + "/devices/barometer?range=1h")
    value = page.locator("#tile-1 [data-quantity='pressure'] dd").text_content()
    assert " ".join(str(value).split()) == "29.96 inHg"
    assert page.locator(".axis-unit").text_content() == "inHg"
    assert page.locator("input[name='hPa'][value='inHg']").is_checked()


def test_a_value_that_rounds_to_zero_has_no_sign_in_any_language(
    sized: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "freezer")
    post_readings(
        server,
        token,
        [(at, v | {"humidity": 50.0}) for at, v in minutes_of("temperature", [-0.04])],
    )
    page = sized(DESKTOP, locale="sv-SE")
    drawn(page, server.url + "/devices/freezer?range=1h")
    assert page.locator("#tile-1 [data-quantity='temperature'] .number").text_content() == "0,0"
    # The note that downloads stay in stored units shows only where a display unit can differ.
    notes = {
        section.get_attribute("data-quantity"): section.locator(".si-note").is_visible()
        for section in page.locator(".chart").all()
    }
    assert notes == {"humidity": False, "temperature": True}


def test_a_backwards_range_is_refused_in_the_form_and_wide_buckets_name_their_span(
    page: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post_readings(server, token, minutes_of("temperature", [20.0, 20.5]))
    drawn(page, server.url + "/devices/greenhouse?range=24h")
    # A day's buckets are minutes wide: the read-out says from when to when.
    assert re.search(
        r"^Newest: .+ to .+ · mean 20\.\d °C", str(page.locator(".readout").text_content())
    )
    page.fill("input[name='from_local']", "2026-12-05T10:00")
    page.fill("input[name='to_local']", "2026-12-05T09:00")
    page.click(".custom-range button")
    assert "range=24h" in page.url, "not submitted"
    message = page.evaluate("document.querySelector(\"input[name='to_local']\").validationMessage")
    assert message == "“To” must be after “From”."


def test_an_empty_range_has_no_made_up_axis(page: Any, server: LiveServer) -> None:
    token = add_device(server.app, "shed")
    post_readings(server, token, [(datetime.now(UTC) - timedelta(days=3), {"humidity": 50.0})])
    drawn(page, server.url + "/devices/shed?range=1h")
    assert page.locator(".plot-empty").is_visible()
    labels = [label["text"] for label in page.evaluate("window.chartAxisBoxes()")[0]["labels"]]
    assert labels and all(text == "" for text in labels)
    assert page.locator(".readout").text_content() == ""
