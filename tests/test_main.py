"""What create_app does to the process once the app has started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from app.main import GC_THRESHOLDS, create_app
from tests.factories import make_settings


@pytest.fixture
def default_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("default_gc")
def test_a_started_app_collects_garbage_rarely_enough_for_thousands_of_streams(
    sqlite_url: str,
) -> None:
    with TestClient(create_app(make_settings(sqlite_url))) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[2] >= 10 * 10  # full collections much rarer than by default
