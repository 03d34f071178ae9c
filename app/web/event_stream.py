"""GET /events: one Server-Sent Events stream per browser tab.

The stream's first frames are a `retry:` with jitter and a snapshot of what the page
shows (or, with a Last-Event-ID the hub can still replay, only what was missed); then
whatever the hub queues for its topic. Keep-alive comments come from the hub, for all
streams at once, and so does the end of every stream on shutdown: a stream costs
its own coroutine and one task that waits for the client to leave, nothing more.

sse-starlette's EventSourceResponse runs four tasks in an anyio task group per stream
(sending, pinging, waiting for shutdown, waiting for disconnect): about 12 KB a stream,
more than the rest of the stream together. HubStream keeps its headers and encoding but
runs only the two that a hub-driven stream needs. Its send timeout is the hub's too:
a write marks its viewer with its start time, and the hub ends the streams whose write
has waited longer than TELEMETRY_SSE_SEND_TIMEOUT, all in one pass, rather than each
write arming and disarming a timer of its own.

The streams are answered by EventStreams, a pure ASGI middleware, before FastAPI's
exception handling, exit stacks and routing: a stream lives for hours, and every
layer it passes through keeps a suspended frame, a closure or an exit stack alive for
as long, about 10 KB a stream in all (docs/benchmarks.md), and takes a turn in every
write. The route below is the same function, and documents it.

Once a stream's first frames are out, its viewer writes the hub's frames to the socket
itself (app/live/viewers.py), found through uvicorn's `send` (server_transport): the
headers, the snapshot and the end of the stream still go through `send`. That is why
EventStreams sits outside all of the app's middleware (app/main.py, TelemetryApp).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse
from sse_starlette.sse import AppStatus, SendTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.live.hub import OVERVIEW, ServerClosing, device_topic
from app.live.streams import TooManyStreams
from app.live.viewers import Viewer, Wire
from app.telemetry import DeviceError, normalize_device_name
from app.web.api_models import ErrorOut
from app.web.client_address import client_address
from app.web.deps import services_of

router = APIRouter(tags=["live"])


@router.get(
    "/events",
    summary="Live updates (Server-Sent Events)",
    response_class=Response,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "An endless event stream."},
        404: {"model": ErrorOut, "description": "No device has that name."},
        422: {"model": ErrorOut, "description": "Neither `topic=overview` nor `device` given."},
        429: {"model": ErrorOut, "description": "This client holds too many streams."},
        503: {"model": ErrorOut, "description": "The server is shutting down."},
    },
)
async def events(
    request: Request,
    topic: Annotated[str | None, Query(description="`overview` for every device's tile.")] = None,
    device: Annotated[str | None, Query(description="A device's page.", max_length=64)] = None,
) -> Response:
    """Tiles of every device (`topic=overview`), or one device's tile and new points."""
    services = services_of(request)
    hub = services.hub
    if device is not None:
        try:
            device_id = hub.device_id(normalize_device_name(device))
        except DeviceError:
            device_id = None
        if device_id is None:
            return JSONResponse({"detail": f"no device is named {device!r}"}, status_code=404)
        stream_topic = device_topic(device_id)
    elif topic == OVERVIEW:
        stream_topic = OVERVIEW
    else:
        return JSONResponse(
            {"detail": "ask for `topic=overview` or for `device=NAME`"}, status_code=422
        )
    client = client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        services.settings.trusted_proxies,
    )
    try:
        viewer = hub.open(stream_topic, client, request.headers.get("last-event-id"))
    except TooManyStreams as exc:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "10"})
    except ServerClosing as exc:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "2"})

    async def stream() -> AsyncIterator[bytes]:
        try:
            while (data := await viewer.next()) is not None:
                yield data
        finally:
            hub.close(viewer)

    async def client_left(_: Message) -> None:
        viewer.close()  # ends the stream's loop

    return HubStream(
        viewer,
        stream(),
        ping=0,  # the hub pings every stream at once
        client_close_handler_callable=client_left,
    )


def server_is_stopping() -> bool:
    """True once the server received SIGTERM or SIGINT.

    sse-starlette hooks uvicorn's signal handler to set this flag; the hub polls it
    (once for every stream), since uvicorn waits for open connections to close before
    it tells the app it stops.
    """
    return AppStatus.should_exit


class HubStream(EventSourceResponse):
    """An event stream whose pings, send timeout and shutdown come from the hub."""

    def __init__(self, viewer: Viewer, content: AsyncIterator[bytes], **options: Any) -> None:
        super().__init__(content, **options)
        self._viewer = viewer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        viewer = self._viewer
        loop = asyncio.get_running_loop()
        viewer.task = asyncio.current_task()
        viewer.offer_wire(lambda: server_transport(send))
        listener = loop.create_task(self._listen_for_disconnect(receive))
        try:
            await self._stream_response(send)
        except asyncio.CancelledError:
            if not viewer.stalled:
                raise
            # The hub cancelled a write the client did not take: end this request only.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            raise SendTimeoutError("the viewer accepted nothing within the send timeout") from None
        finally:
            listener.cancel()

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        viewer = self._viewer
        viewer.sending_since = asyncio.get_running_loop().time()
        try:
            await send(message)
        finally:
            viewer.sending_since = 0.0


def server_transport(send: Send) -> Wire | None:
    """The socket under `send`, if it is uvicorn's httptools server writing a chunked body.

    Known by its attributes, since ASGI offers no way to ask: anything else (another
    server, the h11 protocol, a middleware wrapping `send`) answers None, and the stream
    goes on through `send`, only slower (see app/live/viewers.py).
    """
    cycle = getattr(send, "__self__", None)
    if type(cycle).__module__ != "uvicorn.protocols.http.httptools_impl":
        return None
    transport = getattr(cycle, "transport", None)
    # By its methods: uvloop's transports are not asyncio.WriteTransport subclasses.
    if (
        getattr(cycle, "chunked_encoding", None) is not True
        or getattr(cycle, "disconnected", True)
        or not isinstance(transport, Wire)
        or transport.is_closing()
    ):
        return None
    return transport


class EventStreams:
    """Answers GET /events itself; everything else goes on to the app (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/events" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        query = request.query_params
        response = await events(request, query.get("topic"), query.get("device"))
        del request, query  # not kept alive for the hours the stream may last
        await response(scope, receive, send)
