"""GET /events: one Server-Sent Events stream per browser tab.

The stream's first frames are a `retry:` with jitter and a snapshot of what the page
shows (or, with a Last-Event-ID the hub can still replay, only what was missed); then
whatever the hub queues for its topic. Keep-alive comments, the send timeout and the end
of every stream on shutdown come from the hub, for all streams at once.

HubStream is a plain ASGI response, shaped like Starlette's StreamingResponse (listen
for `http.disconnect`, send the start, loop, send the end): a stream costs its own
coroutine and one task that waits for the client to leave, nothing more. (sse-starlette's
EventSourceResponse runs four tasks per stream, about 12 KB; its ServerSentEvent encodes
the frames, app/web/sse_encoding.py.)

The streams are answered by EventStreams, a pure ASGI middleware, before FastAPI's
exception handling, exit stacks and routing: a stream lives for hours, and every layer
it passes through keeps a suspended frame, a closure or an exit stack alive for as long,
about 10 KB a stream in all (docs/benchmarks.md), and takes a turn in every write. The
route below is the same function, and documents it.

Once a stream's first frames are out, its viewer may write the hub's frames to the
socket itself (app/web/direct_write.py, the one place that reads uvicorn's internals);
the headers, the snapshot and the end of the stream always go through `send`. That is
why EventStreams sits outside all of the app's middleware (app/main.py, TelemetryApp).

How a stream ends:
    the client leaves              http.disconnect ──> the viewer closes, the loop ends
    the hub ends it                closed (shutdown, too far behind) ──> the end chunk
    the client stopped reading     the hub cuts the connection (fast path), or the
                                   kernel's user timeout does (app/serving.py): one info
                                   line in the log (app/live/streams.py), no traceback
    the server gives up waiting    cancelled at shutdown ──> the end chunk, if it can go
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.live.hub import LiveHub, ServerClosing, Watcher
from app.live.streams import TooManyStreams
from app.live.viewers import Viewer
from app.telemetry import DEVICE_NAME_MAX, StorageUnavailable
from app.web.auth import READ_REFUSALS, LoginRequired, api_reader, request_client
from app.web.auth_answers import login_required
from app.web.deps import CONTROL_CHARACTERS, services_of
from app.web.direct_write import DirectWrite, connection_abort
from app.web.errors import RETRY_AFTER, invalid, refusal
from app.web.live_views import (
    TAB_ID,
    TAB_ID_RULE,
    TabParam,
    ViewParam,
    invalid_field,
    page_topic_of,
    watcher_of,
)

logger = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each frame on at once
]
# How long the end of a stream may wait for its client when the server cancels it.
FINAL_SEND_TIMEOUT = 1.0


@router.get(
    "/events",
    summary="Live updates (Server-Sent Events)",
    response_class=Response,
    response_model=None,
    responses={
        200: {
            "description": "An endless event stream.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **READ_REFUSALS,
        404: refusal("No device has that name."),
        422: invalid(
            "Neither `topic=overview` nor `device` given, or a topic or device name over "
            "64 characters or holding control characters; `loc` says which."
        ),
        429: refusal("This client holds too many live streams.", RETRY_AFTER),
        503: refusal("The server is shutting down, or the database does not answer.", RETRY_AFTER),
    },
)
async def events(
    request: Request,
    topic: Annotated[
        str | None,
        Query(description="`overview` for every device's tile.", pattern="^overview$"),
    ] = None,
    device: Annotated[
        str | None,
        Query(
            description="A device's page: its name.",
            min_length=1,
            max_length=DEVICE_NAME_MAX,
            pattern=f"^[^/{CONTROL_CHARACTERS}]+$",
        ),
    ] = None,
    page: Annotated[
        str | None,
        Query(description="`other`: a page without live content of its own.", pattern="^other$"),
    ] = None,
    tab: TabParam = None,
    view: ViewParam = None,
) -> Response | HubStream:
    """Tiles of every device (`topic=overview`), one device's tile and new points
    (`device=NAME`), or neither (`page=other`); with, on every stream, who is watching
    and the signed-in user's unread notifications and toasts.

    The first event, `stream`, gives the stream's id: the browser's other tabs join it
    (POST /events/views) instead of each opening a stream. Every group of frames follows
    an `event: topic` frame naming whose frames they are (`view:VIEW TOPIC` for one
    tab's). A signed-in browser's stream ends when its session does: it is told first
    (an `event: signed-out` frame), and reconnecting without a session is refused (401).
    """
    services = services_of(request)
    hub = services.hub
    try:
        principal = await api_reader(request)  # one indexed lookup, never a password hash
    except LoginRequired as exc:
        refused: Response = await login_required(request, exc)
        return refused
    except StorageUnavailable as exc:  # answered here: streams run outside the app's handlers
        return JSONResponse(
            {"detail": exc.reason}, 503, headers={"Retry-After": str(exc.retry_after)}
        )
    page_topic = await page_topic_of(services, topic, device, page)
    if isinstance(page_topic, Response):
        return page_topic
    for name, value in (("tab", tab), ("view", view)):
        if value is not None and not TAB_ID.fullmatch(value):
            return invalid_field("query", name, f"a {name} id is {TAB_ID_RULE}")
    try:
        watcher = await watcher_of(services, principal)
    except StorageUnavailable as exc:
        return JSONResponse(
            {"detail": exc.reason}, 503, headers={"Retry-After": str(exc.retry_after)}
        )
    client = request_client(request)
    return HubStream(
        hub,
        (page_topic, client, request.headers.get("last-event-id")),
        (watcher, tab or "", view or ""),
        services.direct_write,
    )


class HubStream:
    """One live stream's response: the viewer's frames until it closes or its client leaves.

    The viewer is opened when the response runs, not before: a response that never runs
    (a server that drops it) leaves nothing registered.
    """

    def __init__(
        self,
        hub: LiveHub,
        opening: tuple[str, str, str | None],
        who: tuple[Watcher, str, str],
        direct_write: DirectWrite,
    ) -> None:
        self._hub = hub
        # (topic, client, Last-Event-ID), and (who, tab id, view id).
        self._opening: tuple[str, str, str | None] | None = opening
        self._who = who
        self._direct_write = direct_write
        self.viewer: Viewer | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._opening is not None, "a stream's response runs once"
        opening, self._opening = self._opening, None
        try:
            watcher, tab, view = self._who
            self.viewer = viewer = self._hub.open(*opening, watcher, tab=tab, view=view)
        except TooManyStreams as exc:
            refused = JSONResponse({"detail": str(exc)}, 429, headers={"Retry-After": "10"})
            await refused(scope, receive, send)
            return
        except ServerClosing as exc:
            refused = JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": "2"})
            await refused(scope, receive, send)
            return
        await self._stream(viewer, receive, send)

    async def _stream(self, viewer: Viewer, receive: Receive, send: Send) -> None:
        if self._direct_write.enabled:
            direct_write = self._direct_write
            viewer.offer_wire(lambda: direct_write.wire(send), connection_abort(send))
        listener = asyncio.get_running_loop().create_task(_wait_for_disconnect(viewer, receive))
        started = False
        try:
            await _send(
                viewer, send, {"type": "http.response.start", "status": 200, "headers": HEADERS}
            )
            started = True
            while (data := await viewer.next()) is not None:
                await _send(
                    viewer, send, {"type": "http.response.body", "body": data, "more_body": True}
                )
            await _send(
                viewer, send, {"type": "http.response.body", "body": b"", "more_body": False}
            )
        except asyncio.CancelledError:
            # The server stopped waiting for this stream (uvicorn's graceful-shutdown
            # timeout): end the response properly so the browser reconnects at once.
            if not started:
                raise
            await _finish_cancelled(viewer, send)
        except OSError:
            pass  # the client left while a write was under way (servers other than uvicorn)
        finally:
            listener.cancel()
            self._hub.close(viewer)  # only now: the send timeout watched the last write too


async def _send(viewer: Viewer, send: Send, message: Message) -> None:
    viewer.sending_since = asyncio.get_running_loop().time()
    try:
        await send(message)
    finally:
        viewer.sending_since = 0.0


async def _wait_for_disconnect(viewer: Viewer, receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    viewer.close()  # ends the stream's loop


async def _finish_cancelled(viewer: Viewer, send: Send) -> None:
    """The last chunk of a cancelled stream, or, if its client takes nothing, a cut."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    viewer.close()
    try:
        async with asyncio.timeout(FINAL_SEND_TIMEOUT):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    except (TimeoutError, OSError, asyncio.CancelledError):
        pass
    logger.info(
        "cut the live stream of %s on %s: it took nothing while the server shut down",
        viewer.client,
        viewer.topic,
    )
    viewer.stall()  # aborts the connection where it can be reached
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(0)  # the server sees the connection lost before this returns


def _path(scope: Scope) -> str:
    """The request's path within the app (uvicorn's --root-path is part of scope["path"])."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class EventStreams:
    """Answers GET /events itself; everything else goes on to the app (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or _path(scope) != "/events":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        query = request.query_params
        response = await events(
            request,
            query.get("topic"),
            query.get("device"),
            query.get("page"),
            query.get("tab"),
            query.get("view"),
        )
        del request, query  # not kept alive for the hours the stream may last
        await response(scope, receive, send)
