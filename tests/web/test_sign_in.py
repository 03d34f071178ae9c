"""Signing in and out: the form, the cookie, the limits, the first admin's setup."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.accounts import CLI
from tests.conftest import AppFactory
from tests.signing_in import PASSWORD, make_account

ORIGIN = {"Origin": "http://testserver"}


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    """A client of an app closed to strangers, with one viewer, maria."""
    with TestClient(make_app(public_dashboard=False)) as client:
        client.app.state.services.accounts.users.add("maria", PASSWORD, actor=CLI)  # type: ignore[attr-defined]
        yield client


def _sign_in(client: TestClient, password: str = PASSWORD, **fields: str) -> object:
    form = {"username": "maria", "password": password, **fields}
    return client.post("/login", data=form, headers=ORIGIN, follow_redirects=False)


def test_the_login_page_has_the_fields(client: TestClient) -> None:
    page = client.get("/login?next=/devices/x")
    assert page.status_code == 200
    for field in ('name="username"', 'name="password"', 'name="remember"', 'value="/devices/x"'):
        assert field in page.text


def test_a_right_password_signs_in_and_goes_back_to_the_page(client: TestClient) -> None:
    answer = _sign_in(client, next="/devices/x?range=7d")
    assert answer.status_code == 303  # type: ignore[attr-defined]
    assert answer.headers["location"] == "/devices/x?range=7d"  # type: ignore[attr-defined]
    cookie = answer.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    assert "Max-Age" not in cookie  # a browser-session cookie unless asked to keep it
    assert client.get("/", follow_redirects=False).status_code == 200


def test_keep_me_signed_in_sets_a_30_day_cookie(client: TestClient) -> None:
    answer = _sign_in(client, remember="1")
    assert "Max-Age=2592000" in answer.headers["set-cookie"]  # type: ignore[attr-defined]


def test_the_cookie_is_secure_behind_a_trusted_https_proxy_only(make_app: AppFactory) -> None:
    app = make_app(public_dashboard=False, trusted_proxies="127.0.0.0/8")
    for peer, secure in (("127.0.0.1", True), ("192.0.2.9", False)):
        with TestClient(app, client=(peer, 5000)) as client:
            accounts = app.state.services.accounts
            if not accounts.users.count():
                accounts.users.add("maria", PASSWORD, actor=CLI)
            headers = {**ORIGIN, "X-Forwarded-Proto": "https"}
            form = {"username": "maria", "password": PASSWORD}
            answer = client.post("/login", data=form, headers=headers, follow_redirects=False)
            assert ("Secure" in answer.headers["set-cookie"]) is secure, peer


def test_wrong_password_and_unknown_user_get_the_same_answer(client: TestClient) -> None:
    wrong = _sign_in(client, password="not the password")
    unknown = client.post(
        "/login", data={"username": "nobody", "password": PASSWORD}, headers=ORIGIN
    )
    assert wrong.status_code == unknown.status_code == 401  # type: ignore[attr-defined]
    assert "Wrong name or password." in wrong.text  # type: ignore[attr-defined]
    assert "Wrong name or password." in unknown.text
    assert "set-cookie" not in unknown.headers
    audit = client.app.state.services.accounts.audit.page(limit=5)  # type: ignore[attr-defined]
    assert [(e.action, e.subject) for e in audit[:2]] == [
        ("sign-in failed", "nobody"),
        ("sign-in failed", "maria"),
    ]
    assert audit[0].client_address == "testclient"


def test_a_new_session_id_at_every_sign_in_and_the_old_one_ends(client: TestClient) -> None:
    first = _sign_in(client).cookies["telemetry_session"]  # type: ignore[attr-defined]
    second = _sign_in(client).cookies["telemetry_session"]  # type: ignore[attr-defined]
    assert first != second
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    assert accounts.sessions.lookup(first) is None
    assert accounts.sessions.lookup(second) is not None


def test_sign_ins_are_limited_per_name_with_the_ratelimit_fields(client: TestClient) -> None:
    for _ in range(5):
        assert _sign_in(client, password="wrong password").status_code == 401  # type: ignore[attr-defined]
    limited = _sign_in(client)  # even the right password waits
    assert limited.status_code == 429  # type: ignore[attr-defined]
    assert "Too many sign-in attempts. Try again in" in limited.text  # type: ignore[attr-defined]
    assert '"login-user";q=5;w=300' in limited.headers["RateLimit-Policy"]  # type: ignore[attr-defined]
    assert int(limited.headers["Retry-After"]) > 0  # type: ignore[attr-defined]
    other = client.post("/login", data={"username": "jonas", "password": "x" * 10}, headers=ORIGIN)
    assert other.status_code == 401  # another name is not held up


def test_a_sign_in_posted_from_another_site_is_refused(client: TestClient) -> None:
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        form = {"username": "maria", "password": PASSWORD}
        refused = client.post("/login", data=form, headers=headers, follow_redirects=False)
        assert refused.status_code == 403
        assert "another" in refused.text


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_next_never_leaves_the_site(client: TestClient, target: str) -> None:
    answer = _sign_in(client, next=target)
    assert answer.headers["location"] == "/"  # type: ignore[attr-defined]


def test_sign_out_needs_the_csrf_token_and_ends_the_session(client: TestClient) -> None:
    account = make_account(client.app, "jonas")
    client.cookies.set("telemetry_session", account.cookie)
    refused = client.post("/logout", headers=ORIGIN, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF token is missing" in refused.text
    wrong = client.post("/logout", headers={**ORIGIN, "X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403 and "CSRF token is wrong" in wrong.text
    cross = client.post(
        "/logout", headers={"Origin": "https://evil.example", "X-CSRF-Token": account.csrf}
    )
    assert cross.status_code == 403
    done = client.post(
        "/logout", data={"csrf_token": account.csrf}, headers=ORIGIN, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/login"
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    assert accounts.sessions.lookup(account.cookie) is None


def test_the_setup_code_creates_the_first_admin_and_dies(make_app: AppFactory) -> None:
    with TestClient(make_app(public_dashboard=False)) as client:
        accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
        code = accounts.first_run.issue_code()
        form = {
            "code": code,
            "username": "boss",
            "display_name": "The Boss",
            "password": PASSWORD,
            "password_again": PASSWORD,
        }
        assert client.get(f"/setup?code={code}").status_code == 200
        assert client.get("/setup?code=wrong").status_code == 404
        mismatch = client.post("/setup", data={**form, "password_again": "x"}, headers=ORIGIN)
        assert mismatch.status_code == 422 and "differ" in mismatch.text
        made = client.post("/setup", data=form, headers=ORIGIN, follow_redirects=False)
        assert made.status_code == 303
        assert client.get("/", follow_redirects=False).status_code == 200  # signed in
        assert accounts.users.get("boss").is_admin
        again = client.post("/setup", data={**form, "username": "eve"}, headers=ORIGIN)
        assert again.status_code == 404 and "not valid" in again.text
        assert client.get(f"/setup?code={code}").status_code == 404


def test_no_secret_is_stored_in_plain_text(make_app: AppFactory, sqlite_url: str) -> None:
    with TestClient(make_app(public_dashboard=False)) as client:
        account = make_account(client.app, "jonas")
        signed_in = _sign_in_as(client, "jonas")
        secrets = [PASSWORD, account.cookie, account.token, signed_in]
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for secret in secrets:
        assert secret.encode() not in stored


def _sign_in_as(client: TestClient, name: str) -> str:
    answer = client.post("/login", data={"username": name, "password": PASSWORD}, headers=ORIGIN)
    cookie: str = answer.history[0].cookies["telemetry_session"] if answer.history else ""
    assert cookie
    return cookie


class _Tags(HTMLParser):
    """The start tags of a page with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_first_run_sign_in_page_says_so_in_well_formed_markup(make_app: AppFactory) -> None:
    with TestClient(make_app(public_dashboard=False)) as client:
        page = client.get("/login")
    parser = _Tags()
    parser.feed(page.text)
    (username,) = [attrs for tag, attrs in parser.tags if attrs.get("id") == "username"]
    assert set(username) <= {
        "id", "name", "value", "autocomplete", "autocapitalize", "spellcheck", "required",
        "autofocus", "aria-describedby",
    }  # fmt: skip
    assert "No user exists yet" in page.text


def test_successful_sign_ins_do_not_count_against_the_name(client: TestClient) -> None:
    _sign_in(client, password="a wrong one")
    for _ in range(6):
        assert _sign_in(client).status_code == 303  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://[::1"},
        {"Origin": "null"},
        {"Origin": "https://testserver:99999"},
        {"Sec-Fetch-Site": "x" * 5000},
    ],
)
def test_hostile_origins_are_refused_not_crashed_on(
    client: TestClient, headers: dict[str, str]
) -> None:
    form = {"username": "maria", "password": PASSWORD}
    answer = client.post("/login", data=form, headers=headers, follow_redirects=False)
    assert answer.status_code == 403


def test_a_hostile_htmx_current_url_still_leads_to_the_sign_in_page(client: TestClient) -> None:
    headers = {"HX-Request": "true", "HX-Current-URL": "http://[::1"}
    answer = client.get("/", headers=headers, follow_redirects=False)
    assert answer.status_code == 401 and answer.headers["HX-Redirect"] == "/login"


def test_a_failed_sign_in_with_a_name_no_user_can_have_is_audited_without_it(
    client: TestClient,
) -> None:
    form = {"username": "my secret password\x1b[31m", "password": PASSWORD}
    assert client.post("/login", data=form, headers=ORIGIN).status_code == 401
    audit = client.app.state.services.accounts.audit.page(limit=1)  # type: ignore[attr-defined]
    assert audit[0].subject == "(not a user name)"


def test_signing_out_with_an_ended_session_forgets_the_cookie(client: TestClient) -> None:
    client.cookies.set("telemetry_session", "x" * 43)
    answer = client.post("/logout", headers=ORIGIN, follow_redirects=False)
    assert answer.status_code == 303
    assert 'telemetry_session=""' in answer.headers["set-cookie"]
