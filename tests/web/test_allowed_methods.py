"""A 405 lists every method the path is served with, whichever router serves each."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_allow_lists_the_methods_of_every_route_of_the_path(client: TestClient) -> None:
    answer = client.request("PUT", "/api/v1/devices")
    assert answer.status_code == 405 and answer.json() == {"detail": "Method Not Allowed"}
    assert answer.headers["allow"] == "GET, POST"
    answer = client.request("OPTIONS", "/api/v1/devices/greenhouse")
    assert answer.headers["allow"] == "DELETE, GET, PATCH"
