"""The back office's notify form through a real server: sent to everyone or the users
ticked, confirmed after a 303; refused with the values kept and the error at its field."""

from __future__ import annotations

import html
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from tests.factories import make_settings
from tests.raw_streams import RawStream, events
from tests.servers import LiveServer, run_live_server
from tests.signing_in import Account, make_account


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers."""
    with run_live_server(make_settings(sqlite_url, public_dashboard=False)) as server:
        yield server


@pytest.fixture
def boss(server: LiveServer) -> Account:
    """A signed-in admin."""
    return make_account(server.app, "boss", role="admin", display_name="The Boss")


def post_form(server: LiveServer, admin: Account, form: list[tuple[str, str]]) -> httpx.Response:
    """Post the notify form as the admin's browser does."""
    data: dict[str, list[str]] = {"csrf_token": [admin.csrf]}
    for name, value in form:
        data.setdefault(name, []).append(value)
    return httpx.post(
        server.url + "/admin/notify",
        data=data,
        cookies=admin.cookies,
        headers={"Origin": server.url},
    )


def inbox_titles(server: LiveServer, name: str) -> list[str]:
    """The titles in a user's inbox, newest first."""
    accounts = server.app.state.services.accounts
    found = accounts.notifications.inbox(accounts.users.get(name).id)
    return [item.notification.title for item in found.items]


def test_the_form_lists_users_by_display_name_and_name(server: LiveServer, boss: Account) -> None:
    make_account(server.app, "maria", display_name="María <G>")
    page = httpx.get(server.url + "/admin/notify", cookies=boss.cookies)
    assert page.status_code == 200
    assert 'value="maria"' in page.text and "María &lt;G&gt;" in page.text
    assert '<textarea name="message"' in page.text and '<select name="level"' in page.text
    assert 'href="/admin/notify" aria-current="page">Notify</a>' in page.text


def test_sending_to_chosen_users_comes_back_with_a_confirmation(
    server: LiveServer, boss: Account
) -> None:
    chosen_tab = RawStream(server, make_account(server.app, "maria"))
    make_account(server.app, "jonas")
    make_account(server.app, "ann")
    other_tab = RawStream(server, make_account(server.app, "zoe"))  # not chosen
    form = [
        ("title", "Vent"),
        ("message", "Check it"),
        ("level", "warning"),
        ("link", "/devices/shed"),
        ("audience", "users"),
        ("users", "maria"),
        ("users", "jonas"),
    ]
    sent = post_form(server, boss, form)
    assert (sent.status_code, sent.headers["location"]) == (303, "/admin/notify?sent=2")
    after = httpx.get(server.url + sent.headers["location"], cookies=boss.cookies)
    assert "Sent to 2 users." in after.text
    assert inbox_titles(server, "maria") == inbox_titles(server, "jonas") == ["Vent"]
    assert inbox_titles(server, "ann") == []
    chosen_tab.wait_for(lambda text: "event: toast" in text, timeout=1.0)
    assert events(other_tab.text(), "toast") == []


def test_everyone_reaches_every_user(server: LiveServer, boss: Account) -> None:
    make_account(server.app, "maria")
    form = [("title", "All"), ("message", "m"), ("level", "info"), ("audience", "everyone")]
    sent = post_form(server, boss, form)
    assert sent.headers["location"] == "/admin/notify?sent=2"
    assert inbox_titles(server, "boss") == inbox_titles(server, "maria") == ["All"]


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ([("title", ""), ("message", "m")], "title"),
        ([("title", "t"), ("message", "")], "message"),
        ([("title", "t"), ("message", "m"), ("level", "loud")], "level"),
        ([("title", "t"), ("message", "m"), ("link", "https://evil.example")], "link"),
        ([("title", "t"), ("message", "m"), ("audience", "users")], "users"),
    ],
)
def test_a_refused_field_shows_the_form_again_with_the_error_at_that_field(
    server: LiveServer, boss: Account, form: list[tuple[str, str]], field: str
) -> None:
    answer = post_form(server, boss, [*form, ("link", "/kept")] if field != "link" else form)
    assert answer.status_code == 422
    assert f'<p class="field-error" id="{field}-error">' in answer.text
    assert answer.text.count('class="field-error"') == 1
    assert f'aria-describedby="{field}-error"' in answer.text or f'{field}-error"' in answer.text
    if field != "link":
        assert 'value="/kept"' in answer.text  # what was typed stays
    assert inbox_titles(server, "boss") == []


def test_unknown_users_are_all_named_and_the_ticks_kept(server: LiveServer, boss: Account) -> None:
    make_account(server.app, "maria")
    form = [("title", "t"), ("message", "Keep <this>"), ("audience", "users")]
    form += [("users", "maria"), ("users", "ghost"), ("users", "nobody")]
    answer = post_form(server, boss, form)
    assert answer.status_code == 422
    text = html.unescape(answer.text)
    assert "'ghost'" in text and "'nobody'" in text
    assert 'value="maria" checked' in answer.text and ">Keep &lt;this&gt;</textarea>" in answer.text


def test_viewers_cannot_open_or_post_the_form(server: LiveServer) -> None:
    viewer = make_account(server.app, "maria")
    assert httpx.get(server.url + "/admin/notify", cookies=viewer.cookies).status_code == 403
    answer = post_form(server, viewer, [("title", "t"), ("message", "m")])
    assert answer.status_code == 403 and inbox_titles(server, "maria") == []


@pytest.mark.parametrize(
    ("audience", "says"),
    [(None, "users are ticked"), ("everyone", "users are ticked"), ("zzz", "choose Everyone")],
)
def test_ticked_users_never_go_to_everyone_whatever_the_audience_says(
    server: LiveServer, boss: Account, audience: str | None, says: str
) -> None:
    make_account(server.app, "ann")
    make_account(server.app, "bob")
    form = [("title", "Private"), ("message", "for bob"), ("users", "bob")]
    if audience is not None:
        form.append(("audience", audience))
    refused = post_form(server, boss, form)
    assert refused.status_code == 422
    assert says in refused.text and 'id="audience-error"' in refused.text
    assert inbox_titles(server, "ann") == inbox_titles(server, "bob") == []
