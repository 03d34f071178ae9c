"""Chart notes through the API: list a device's notes over a range, add, change, delete.

Reading is open to whoever reads the device's history (ApiReader). Writing needs a user:
a session (with its CSRF token) or a personal token; a public dashboard's guest gets 401.
Only a note's author or an admin may change or delete it (the accounts context decides;
403 here). The notes come back in the shape the live `notes` event carries
(app/web/note_payloads.py).

Where a refusal points (`loc` of the 422):
    text, at, until      ["body", field]      what the note says, and when
    the device           ["path", "name"]     adding a note to a device that is not there
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.accounts import NOTE_MAX, NoteError, NoteInfo, NoteNotFound, NotePermission
from app.telemetry import DeviceError, normalize_device_name
from app.web.auth import READ_REFUSALS, LoginRequired, Principal, api_reader, identify
from app.web.csrf import Forbidden, check_csrf
from app.web.deps import ROW_ID_MAX, DeviceName, Services, ServicesDep, services_of
from app.web.errors import UNAVAILABLE, InvalidParameter, invalid, refusal
from app.web.history import RANGE_RULES, From, To, read_range
from app.web.note_payloads import note_payload

router = APIRouter(prefix="/api/v1/devices", tags=["chart notes"])

NoteId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="The note's id.")]

WRITE_REFUSALS: dict[int | str, dict[str, Any]] = {
    **READ_REFUSALS,
    400: refusal("The body is not JSON text (UTF-8)."),
    403: refusal(
        "Not the note's author nor an admin, or (with a session cookie) the CSRF token or "
        "the request's origin is missing or wrong."
    ),
    503: UNAVAILABLE,
}
_NOTE_RULES = (
    f"`text` 1 to {NOTE_MAX} characters (line breaks allowed, no other control "
    "characters), `at` at most 5 minutes ahead of the server's clock and not before what "
    "the chart keeps (TELEMETRY_ROLLUP_RETENTION_DAYS), `until` after `at`"
)
_BODY_FIELDS = {"text", "at", "until"}


class NoteOut(BaseModel):
    """A chart note, as the live `notes` event carries it too."""

    id: int
    device: str
    at: datetime = Field(description="When the note is about (the start of a range).")
    until: datetime | None = Field(description="The end of a range; null for a moment.")
    text: str = Field(description="Plain text; `@name` mentions a user.")
    author: str = Field(description="The author's display name when they wrote it.")
    author_name: str | None = Field(description="The author's user name (null once removed).")
    mentions: list[str] = Field(description="The users the note notified, by user name.")
    created_at: datetime
    updated_at: datetime


class NoteListOut(BaseModel):
    """The notes overlapping a range, oldest first."""

    notes: list[NoteOut]


class NoteIn(BaseModel):
    """A new note: at a moment, or over a range when `until` is given."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=4 * NOTE_MAX, description=f"1 to {NOTE_MAX} characters.")
    at: AwareDatetime = Field(description="ISO 8601 with a time zone.")
    until: AwareDatetime | None = Field(None, description="The end of a range (after `at`).")


class NotePatch(BaseModel):
    """What changes; a field left out stays as it is (`until`: null makes it a moment)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, max_length=4 * NOTE_MAX)
    at: AwareDatetime | None = None
    until: AwareDatetime | None = None


async def note_writer(request: Request) -> Principal:
    """A signed-in user (session with its CSRF token, or a personal token); never a guest."""
    principal = await identify(request, tokens=True)
    if principal is None or principal.user is None:
        raise LoginRequired(
            "sign in to write notes, or send a personal token: 'Authorization: Bearer tlp_...'",
            page=False,
        )
    await check_csrf(request, principal, page=False)
    return principal


NoteWriter = Annotated[Principal, Depends(note_writer)]


def _out(note: NoteInfo) -> NoteOut:
    return NoteOut.model_validate(note_payload(note))


def _earliest(services: Services) -> datetime:
    """The oldest time the chart can still show: notes before it could never be seen."""
    return services.clock() - timedelta(days=services.settings.rollup_retention_days)


def _refusal(exc: NoteError) -> Exception:
    if isinstance(exc, NoteNotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, NotePermission):
        return Forbidden(str(exc), page=False)
    loc: tuple[str, ...] = ("path", "name") if exc.field == "name" else ("body", exc.field)
    if exc.field not in _BODY_FIELDS | {"name"}:
        loc = ("body",)  # the author was removed meanwhile: nothing in the request to name
    return InvalidParameter(loc, str(exc), "value_error")


async def _note_of(services: Services, name: str, note_id: int) -> NoteInfo:
    """The note `note_id` if it is on device `name` (by its current name), else 404."""
    try:
        note = await services.accounts.run(lambda: services.accounts.notes.get(note_id))
    except NoteNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    try:
        same = note.device_name == normalize_device_name(name)
    except DeviceError:
        same = False
    if not same:
        raise HTTPException(404, f"device {name.strip()!r} has no note with the id {note_id}")
    return note


@router.get(
    "/{name}/notes",
    summary="A device's chart notes",
    response_model=NoteListOut,
    dependencies=[Depends(api_reader)],
    responses={
        **READ_REFUSALS,
        404: refusal("No device has that name."),
        422: invalid(f"A parameter breaks its rule ({RANGE_RULES}); `loc` says which."),
        503: UNAVAILABLE,
    },
)
async def list_notes(
    request: Request, name: DeviceName, start: From = None, end: To = None
) -> NoteListOut:
    """The notes overlapping the range (default: the last 24 h), oldest first; at most 500."""
    services = services_of(request)
    start, end = read_range(request, start, end)
    try:
        notes = await services.accounts.list_notes(name, start, end)
    except NoteError as exc:
        raise HTTPException(404, str(exc)) from None
    return NoteListOut(notes=[_out(note) for note in notes])


@router.post(
    "/{name}/notes",
    status_code=201,
    summary="Add a chart note",
    response_model=NoteOut,
    responses={
        **WRITE_REFUSALS,
        422: invalid(
            f"A value breaks its rule ({_NOTE_RULES}), or no device has that name "
            '(`loc` ["path", "name"]).'
        ),
    },
)
async def add_note(
    name: DeviceName, body: NoteIn, principal: NoteWriter, services: ServicesDep
) -> NoteOut:
    """A note on the device's chart; each `@name` of a user notifies that user once."""
    assert principal.user is not None
    try:
        note = await services.accounts.add_note(
            name,
            author_id=principal.user.id,
            text=body.text,
            starts_at=body.at,
            ends_at=body.until,
            earliest=_earliest(services),
        )
    except NoteError as exc:
        raise _refusal(exc) from None
    return _out(note)


@router.patch(
    "/{name}/notes/{note_id}",
    summary="Change a chart note",
    response_model=NoteOut,
    responses={
        **WRITE_REFUSALS,
        404: refusal("The device has no note with that id."),
        422: invalid(f"A value breaks its rule ({_NOTE_RULES}); `loc` says which."),
    },
)
async def change_note(
    name: DeviceName, note_id: NoteId, body: NotePatch, principal: NoteWriter, services: ServicesDep
) -> NoteOut:
    """Change a note's text or times (its author or an admin); users newly mentioned are
    notified."""
    assert principal.user is not None
    await _note_of(services, name, note_id)
    try:
        note = await services.accounts.update_note(
            note_id,
            editor_id=principal.user.id,
            editor_is_admin=principal.is_admin,
            text=body.text,
            starts_at=body.at,
            ends_at=body.until if "until" in body.model_fields_set else ...,
            earliest=_earliest(services),
        )
    except NoteError as exc:
        raise _refusal(exc) from None
    return _out(note)


@router.delete(
    "/{name}/notes/{note_id}",
    status_code=204,
    summary="Delete a chart note",
    responses={
        **WRITE_REFUSALS,
        404: refusal("The device has no note with that id."),
        422: invalid("The note id is not a whole number from 1 to 2^63 - 1."),
    },
)
async def delete_note(
    name: DeviceName, note_id: NoteId, principal: NoteWriter, services: ServicesDep
) -> None:
    """Delete a note (its author or an admin); open charts drop it at once."""
    assert principal.user is not None
    await _note_of(services, name, note_id)
    try:
        await services.accounts.delete_note(
            note_id, editor_id=principal.user.id, editor_is_admin=principal.is_admin
        )
    except NoteError as exc:
        raise _refusal(exc) from None
