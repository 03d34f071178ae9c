"""Chart notes: a user's remark on a device's chart, at one time or over a range.

A note that mentions users ("@maria") notifies them in the note's own transaction
(Notifications.send with the session): a note is never stored without its
notification, nor a notification sent for a note that is not. An edit notifies only
the users it newly mentions. The facade publishes NoteChanged (and NotificationSent)
after the commit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import EllipsisType

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.audit import Actor
from app.accounts.events import NotificationSent
from app.accounts.mentions import MENTION, mentioned_names, note_link
from app.accounts.models import NOTE_TEXT_MAX, ChartNote, NoteMention, User
from app.accounts.note_rows import (
    NoteError,
    NoteInfo,
    NoteNotFound,
    NotePermission,
    device_name_of,
    find_device,
    read_note,
    read_notes,
)
from app.accounts.notification_rules import CONTROL_BUT_LINE_FEED, TITLE_MAX, with_line_feeds
from app.accounts.notifications import Notifications
from app.db import translate_storage_errors
from app.telemetry import Clock

__all__ = [
    "MENTION",
    "NOTES_PER_QUERY",
    "NOTE_MAX",
    "NoteError",
    "NoteInfo",
    "NoteNotFound",
    "NotePermission",
    "Notes",
]

NOTE_MAX = NOTE_TEXT_MAX
NOTES_PER_QUERY = 500
# Clocks of browsers and devices drift: a note may be a little ahead of the server.
FUTURE_MARGIN = timedelta(minutes=5)


def check_text(raw: str) -> str:
    """The note's text as stored (line breaks kept), or NoteError (field "text")."""
    text = with_line_feeds(raw).strip()
    if not text:
        raise NoteError("text", "a note needs some text")
    if len(text) > NOTE_MAX:
        raise NoteError("text", f"a note has at most {NOTE_MAX} characters, not {len(text)}")
    if CONTROL_BUT_LINE_FEED.search(text):
        raise NoteError("text", "a note cannot hold control characters (line breaks are fine)")
    return text


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NoteError(field, f"{moment.isoformat()} needs a time zone (UTC: add 'Z')")
    return moment.astimezone(UTC)


class Notes:
    """Adding, changing, deleting and listing chart notes; the only code that touches
    their tables."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Clock, notifications: Notifications
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._notifications = notifications

    def list(self, device_name: str, start: datetime, end: datetime) -> list[NoteInfo]:
        """The device's notes overlapping [start, end], oldest first, at most NOTES_PER_QUERY."""
        with translate_storage_errors(), self._sessions() as session:
            device_id, _ = find_device(session, device_name)
            return read_notes(
                session,
                ChartNote.device_id == device_id,
                ChartNote.starts_at <= end,
                or_(
                    ChartNote.ends_at >= start,
                    and_(ChartNote.ends_at.is_(None), ChartNote.starts_at >= start),
                ),
                limit=NOTES_PER_QUERY,
            )

    def get(self, note_id: int) -> NoteInfo:
        """One note; NoteNotFound if there is none."""
        with translate_storage_errors(), self._sessions() as session:
            return read_note(session, note_id)

    def add(
        self,
        device_name: str,
        *,
        author_id: int,
        text: str,
        starts_at: datetime,
        ends_at: datetime | None = None,
        earliest: datetime,
    ) -> tuple[NoteInfo, NotificationSent | None]:
        """Add a note, and notify the users it mentions; NoteError when refused."""
        text = check_text(text)
        now = self._clock()
        starts_at = self._check_at(starts_at, earliest, now)
        ends_at = self._check_until(ends_at, starts_at, now)
        try:
            with translate_storage_errors(), self._sessions.begin() as session:
                device_id, device = find_device(session, device_name)
                author = self._user(session, author_id, "author")
                note = ChartNote(
                    device_id=device_id,
                    author_id=author.id,
                    author_name=author.display_name,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    text=text,
                    created_at=now,
                    updated_at=now,
                )
                session.add(note)
                session.flush()
                mentioned = self._mentioned(session, text, {author.id})
                sent = self._notify(session, note, device, author, mentioned)
                return read_note(session, note.id), sent
        except IntegrityError:  # the device was deleted meanwhile
            raise NoteError("name", f"no device is named {device_name.strip()!r}") from None

    def update(
        self,
        note_id: int,
        *,
        editor_id: int,
        editor_is_admin: bool,
        text: str | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | EllipsisType | None = ...,
        earliest: datetime,
    ) -> tuple[NoteInfo, NotificationSent | None]:
        """Change a note's text or times (`ends_at` None: no range; ... unchanged); only
        its author or an admin may. Users it newly mentions are notified."""
        new_text = None if text is None else check_text(text)
        now = self._clock()
        with translate_storage_errors(), self._sessions.begin() as session:
            note = self._editable(session, note_id, editor_id, editor_is_admin)
            if starts_at is not None:
                note.starts_at = self._check_at(starts_at, earliest, now)
            if not isinstance(ends_at, EllipsisType):
                note.ends_at = ends_at
            if starts_at is not None or not isinstance(ends_at, EllipsisType):
                note.ends_at = self._check_until(note.ends_at, note.starts_at, now)
            sent = None
            if new_text is not None and new_text != note.text:
                note.text = new_text
                editor = self._user(session, editor_id, "editor")
                mine = NoteMention.note_id == note.id
                before = set(session.scalars(select(NoteMention.user_id).where(mine)))
                mentioned = self._mentioned(session, new_text, {editor.id, note.author_id})
                gone = before - set(mentioned.values())
                if gone:
                    session.execute(delete(NoteMention).where(mine, NoteMention.user_id.in_(gone)))
                newly = {name: user for name, user in mentioned.items() if user not in before}
                device = device_name_of(session, note.device_id)
                sent = self._notify(session, note, device, editor, newly)
            note.updated_at = now
            session.flush()
            return read_note(session, note.id), sent

    def delete(self, note_id: int, *, editor_id: int, editor_is_admin: bool) -> NoteInfo:
        """Delete a note (its author or an admin); returns it as it was."""
        with translate_storage_errors(), self._sessions.begin() as session:
            note = self._editable(session, note_id, editor_id, editor_is_admin)
            info = read_note(session, note.id)
            session.execute(delete(NoteMention).where(NoteMention.note_id == note.id))
            session.execute(delete(ChartNote).where(ChartNote.id == note.id))
            return info

    def _check_at(self, starts_at: datetime, earliest: datetime, now: datetime) -> datetime:
        at = _aware(starts_at, "at")
        if at > now + FUTURE_MARGIN:
            raise NoteError("at", f"a note cannot be later than {FUTURE_MARGIN} from now")
        if at < earliest:
            raise NoteError("at", f"a note cannot be earlier than {earliest.isoformat()}")
        return at

    def _check_until(
        self, ends_at: datetime | None, starts_at: datetime, now: datetime
    ) -> datetime | None:
        if ends_at is None:
            return None
        until = _aware(ends_at, "until")
        if until <= starts_at:
            raise NoteError("until", "a range must end after it starts")
        if until > now + FUTURE_MARGIN:
            raise NoteError("until", f"a range cannot end later than {FUTURE_MARGIN} from now")
        return until

    def _user(self, session: Session, user_id: int, field: str) -> User:
        user = session.get(User, user_id)
        if user is None:
            raise NoteError(field, f"no user has the id {user_id}")
        return user

    def _editable(
        self, session: Session, note_id: int, editor_id: int, editor_is_admin: bool
    ) -> ChartNote:
        note = session.get(ChartNote, note_id, with_for_update=True)
        if note is None:
            raise NoteNotFound("id", f"no note has the id {note_id}")
        if note.author_id != editor_id and not editor_is_admin:
            raise NotePermission("id", "only the note's author or an admin may change it")
        return note

    def _mentioned(self, session: Session, text: str, exclude: set[int | None]) -> dict[str, int]:
        """The enabled users `text` mentions, but those excluded: name -> id."""
        names = mentioned_names(text)
        if not names:
            return {}
        query = select(User.name, User.id).where(User.name.in_(names), User.disabled.is_(False))
        return {row.name: row.id for row in session.execute(query) if row.id not in exclude}

    def _notify(
        self,
        session: Session,
        note: ChartNote,
        device: str,
        sender: User,
        mentioned: dict[str, int],
    ) -> NotificationSent | None:
        """Record the mentions and notify them in the note's transaction."""
        if not mentioned:
            return None
        session.execute(
            insert(NoteMention), [{"note_id": note.id, "user_id": u} for u in mentioned.values()]
        )
        return self._notifications.send(
            f"{sender.display_name} mentioned you on {device}"[:TITLE_MAX],
            note.text,
            link=note_link(device, note.id, note.starts_at, note.ends_at),
            sender_id=sender.id,
            users=sorted(mentioned),
            actor=Actor(sender.name),
            session=session,
        )
