"""Whatever a client sends, the answer is never a 500 and a refusal stores nothing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.web.auth import SESSION_COOKIE
from tests.conftest import AppFactory
from tests.factories import add_device, bearer
from tests.signing_in import make_account

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda m: f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
)
times = st.builds(
    lambda moment, offset: moment.isoformat() + offset,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    offsets | st.just("Z") | st.just(""),
)
measurement = st.fixed_dictionaries(
    {},
    optional={
        "measured_at": st.sampled_from(
            [
                "2026-11-21T10:00:00Z",
                "2026-11-21T10:00:00",
                "1970-01-01T00:00:00Z",
                "soon",
                "2999-01-01T00:00:00Z",
            ]
        )
        | times
        | json_values,
        "values": st.dictionaries(
            st.sampled_from(["temperature", "humidity", "pressure", "x", "Bad", ""])
            | st.text(max_size=8),
            st.floats() | st.integers() | scalars,
            max_size=4,
        )
        | json_values,
        "extra": json_values,
    },
)
bodies = (
    measurement
    | st.fixed_dictionaries({"measurements": st.lists(measurement, max_size=5)})
    | json_values
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, batch=st.booleans())
def test_no_body_makes_a_server_error(client: TestClient, body: Any, batch: bool) -> None:
    if not hasattr(client, "token"):
        client.token = add_device(client.app, "fuzz")  # type: ignore[attr-defined, arg-type]
    path = "/api/v1/measurements/batch" if batch else "/api/v1/measurements"
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM measurements")).scalar_one()
    raw = json.dumps(body, allow_nan=True)
    response = client.post(
        path,
        content=raw,
        headers={**bearer(client.token), "Content-Type": "application/json"},  # type: ignore[attr-defined]
    )
    assert response.status_code in (200, 201, 400, 422), response.text
    with engine.connect() as conn:
        after = conn.execute(sa.text("SELECT count(*) FROM measurements")).scalar_one()
    if response.status_code >= 400:
        assert after == before
    else:
        assert after - before == response.json()["stored"]


edges = st.sampled_from(
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "1999-12-31T23:59:59Z",
     "2026-11-21T10:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00"]
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.none() | edges | times,
    end=st.none() | edges | times,
    points=st.none() | st.integers(min_value=-5, max_value=10**9) | st.text(max_size=5),
    path=st.sampled_from(["series", "series.csv", "raw.csv"]),
)
def test_no_history_range_makes_a_server_error(
    client: TestClient, start: str | None, end: str | None, points: Any, path: str
) -> None:
    if not hasattr(client, "token"):
        client.token = add_device(client.app, "ranges")  # type: ignore[attr-defined, arg-type]
        body = {"values": {"temperature": 20.0}}
        client.post("/api/v1/measurements", json=body, headers=bearer(client.token))  # type: ignore[attr-defined]
    params = {"quantity": "temperature"}
    for name, value in (("from", start), ("to", end), ("max_points", points)):
        if value is not None:
            params[name] = str(value)
    response = client.get(f"/api/v1/devices/ranges/{path}", params=params)
    assert response.status_code in (200, 422), response.text


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(min_size=1, max_size=70),
    path=st.sampled_from(["", "/series", "/series.csv", "/raw.csv"]),
)
def test_no_device_name_makes_a_server_error(client: TestClient, name: str, path: str) -> None:
    response = client.get(
        f"/api/v1/devices/{quote(name, safe='')}{path}", params={"quantity": "temperature"}
    )
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/devices/a%00b", {}),
        ("/api/v1/devices/a%00b/series", {"quantity": "temperature"}),
        ("/api/v1/devices/a%00b/raw.csv", {"quantity": "temperature"}),
        ("/api/v1/devices", {"after": "a\x00b"}),
    ],
)
def test_a_nul_in_a_name_is_refused_before_the_database_sees_it(
    make_app: AppFactory, database_url: str, path: str, params: dict[str, str]
) -> None:
    # PostgreSQL takes no NUL in a text parameter: the name must not reach it.
    with TestClient(make_app(database_url=database_url)) as test_client:
        assert test_client.get(path, params=params).status_code in (404, 422)


def integer_parameters(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(method, path, where, name) of every integer path or query parameter documented."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                kinds = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
                if "integer" in kinds and parameter["in"] in ("path", "query"):
                    found.append((method.upper(), path, parameter["in"], parameter["name"]))
    return found


@pytest.mark.parametrize("value", [2**63, 10**30, -(2**63) - 1])
def test_an_id_beyond_what_a_database_holds_is_refused_naming_it(
    make_app: AppFactory, database_url: str, value: int
) -> None:
    # Both databases keep ids as signed 64-bit integers: a larger number must be a 422
    # naming the parameter, not a driver's overflow (a 500).
    app = make_app(database_url=database_url)
    with TestClient(app) as test_client:
        add_device(app, "greenhouse")
        admin = make_account(app, "root", role="admin")
        parameters = integer_parameters(app.openapi())
        assert len(parameters) >= 5, parameters  # note, notification and session ids at least
        for method, path, where, name in parameters:
            url = path.replace("{name}", "greenhouse")
            query = {"quantity": "temperature"}  # what the history's reads require
            if where == "path":
                url = url.replace(f"{{{name}}}", str(value))
            else:
                query[name] = str(value)
            answer = test_client.request(method, url, params=query, headers=admin.bearer)
            if where == "query" and answer.status_code == 200:
                continue  # a count, not an id: as many as there are (max_points)
            assert answer.status_code == 422, (method, url, query, answer.text)
            assert [where, name] in [e["loc"] for e in answer.json()["detail"]], answer.text
        # The inbox's form takes an id too.
        test_client.cookies.set(SESSION_COOKIE, admin.cookie)
        answer = test_client.post(
            "/inbox/read",
            data={"id": str(value), "csrf_token": admin.csrf},
            headers={"Origin": "http://testserver"},
        )
        assert answer.status_code == 422, answer.text
        assert ["body", "id"] in [e["loc"] for e in answer.json()["detail"]], answer.text
