"""Every HTML answer says what it may load and who may frame it; user text is escaped."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppFactory
from tests.factories import add_device
from tests.signing_in import make_account

PAGES = ["/", "/devices/greenhouse", "/devices/nothing", "/login", "/docs"]


@pytest.fixture
def signed_in(make_app: AppFactory) -> Iterator[TestClient]:
    """A client signed in as a viewer whose display name is markup."""
    with TestClient(make_app(public_dashboard=False)) as client:
        add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        account = make_account(client.app, "maria", display_name='<img src=x onerror="alert(1)">')
        client.cookies.set("telemetry_session", account.cookie)
        yield client


def _script_src(policy: str) -> str:
    return next(part for part in policy.split(";") if part.strip().startswith("script-src"))


@pytest.mark.parametrize("path", PAGES)
def test_html_answers_carry_the_policy_and_its_companions(signed_in: TestClient, path: str) -> None:
    page = signed_in.get(path)
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in _script_src(policy)
    assert "unsafe-eval" not in _script_src(policy)
    assert "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"


def test_the_docs_page_allows_exactly_its_own_inline_script(signed_in: TestClient) -> None:
    page = signed_in.get("/docs")
    scripts = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert _script_src(page.headers["Content-Security-Policy"]).split() == [
        "script-src",
        "'self'",
        f"'sha256-{digest}'",
    ]


def test_pages_have_no_inline_script_and_configure_htmx_safely(signed_in: TestClient) -> None:
    for path in ("/", "/devices/greenhouse", "/login"):
        html = signed_in.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert '"allowEval": false' in html and '"allowScriptTags": false' in html


def test_a_display_name_with_markup_is_shown_escaped(signed_in: TestClient) -> None:
    html = signed_in.get("/").text
    assert '<img src=x onerror="alert(1)">' not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


def test_json_answers_are_left_alone(signed_in: TestClient) -> None:
    answer = signed_in.get("/api/v1/devices")
    assert "Content-Security-Policy" not in answer.headers
