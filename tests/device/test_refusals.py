"""The log of refused readings: at once, then at most once per refusal_log_interval."""

from __future__ import annotations

import logging

import pytest

from device.refusals import RefusalLog


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.refusals"]


def test_a_refusal_exactly_one_interval_after_the_last_line_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    log = RefusalLog(logging.getLogger("test.refusals"), ticks, interval=60.0)
    with caplog.at_level(logging.WARNING, "test.refusals"):
        log.refused(1, 0, "422: first")  # the first: at once
        ticks.now += 59.999
        log.refused(2, 0, "422: second")  # within the interval: counted, not said
        assert len(_lines(caplog)) == 1
        ticks.now += 0.001
        log.refused(1, 0, "422: third")  # the interval is over: said, with the count
    lines = _lines(caplog)
    assert len(lines) == 2
    assert lines[0].startswith("the server refused 1 reading(s) (the latest: 422: first)")
    assert lines[1].startswith("the server refused 3 reading(s) in the last 60 s")
    assert "422: third" in lines[1]


def test_an_interval_of_zero_says_every_refusal(caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    log = RefusalLog(logging.getLogger("test.refusals"), ticks, interval=0.0)
    with caplog.at_level(logging.WARNING, "test.refusals"):
        for _ in range(3):
            log.refused(1, 0, "422: bad")
    assert len(_lines(caplog)) == 3


def test_what_is_unsaid_when_the_sender_stops_is_said_then(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    log = RefusalLog(logging.getLogger("test.refusals"), ticks, interval=600.0)
    with caplog.at_level(logging.WARNING, "test.refusals"):
        log.refused(1, 0, "422: first")
        log.refused(4, 2, "422: later")
        log.report()  # within the interval: nothing
        assert len(_lines(caplog)) == 1
        log.report(now_or_never=True)
        log.report(now_or_never=True)  # nothing left to say
    lines = _lines(caplog)
    assert len(lines) == 2
    assert "refused 4 reading(s)" in lines[1]
    assert "its 2 oldest were dropped" in lines[1]
