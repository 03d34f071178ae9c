"""create_app(settings): the one place that builds and wires the server."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from app import schema_migrations
from app.accounts import Accounts, SessionLifetime
from app.bus import InProcessBus
from app.config import Settings
from app.db import StorageUnavailable, create_db_engine, create_session_factory
from app.live.hub import LiveHub
from app.live.loader import load_views
from app.resources import resource_path
from app.telemetry import (
    Clock,
    Devices,
    History,
    Measurements,
    Retention,
    RetentionPolicy,
    utc_now,
)
from app.web import (
    admin_api,
    admin_pages,
    api_document,
    devices,
    docs_page,
    event_stream,
    health,
    history,
    housekeeping,
    inbox,
    ingest,
    live_bridge,
    live_views,
    notes_api,
    notifications_api,
    pages,
    presence_api,
    sign_in,
)
from app.web.allowed_methods import install_allowed_methods
from app.web.auth_answers import install_auth_answers
from app.web.deps import Services
from app.web.direct_write import DirectWrite
from app.web.errors import install_error_handlers
from app.web.ratelimit import RateLimiter
from app.web.security_headers import SecurityHeaders
from app.web.sse_encoding import encode_event
from app.web.templating import Templates

logger = logging.getLogger(__name__)

GC_THRESHOLDS = (700, 10, 1000)  # Python's defaults are (700, 10, 10)

API_DESCRIPTION = """\
Self-hosted IoT telemetry. Devices post readings with their bearer token
(`telemetry device add NAME` prints one); the server stores each value once, however
often it is resent, and answers only after the values are committed.
"""


def build_services(settings: Settings, clock: Clock = utc_now) -> Services:
    """Engine, bus and contexts for one app; nothing connects until the app starts."""
    engine = create_db_engine(settings)
    bus = InProcessBus(maxsize=settings.bus_queue_size)
    templates = Templates()
    return Services(
        settings=settings,
        engine=engine,
        bus=bus,
        devices=Devices(
            create_session_factory(engine),
            clock,
            token_cache_seconds=settings.token_cache_seconds,
        ),
        measurements=Measurements.from_settings(engine, bus, settings, clock=clock),
        history=History(
            engine, clock, minute_retention=timedelta(days=settings.minute_rollup_retention_days)
        ),
        retention=Retention(
            engine,
            clock,
            RetentionPolicy(
                raw=timedelta(days=settings.raw_retention_days),
                minutes=timedelta(days=settings.minute_rollup_retention_days),
                hours=timedelta(days=settings.rollup_retention_days),
            ),
        ),
        hub=LiveHub(
            templates,
            encode_event,
            clock,
            refresh_interval=settings.refresh_interval,
            replay_frames=settings.sse_replay_frames,
            replay_bytes=settings.sse_replay_bytes,
            queue_frames=settings.sse_queue_frames,
            backlog_bytes=settings.sse_backlog_bytes,
            ping_seconds=settings.sse_ping_seconds,
            streams_per_client=settings.sse_streams_per_client,
            send_timeout=settings.sse_send_timeout,
        ),
        templates=templates,
        rate_limiter=RateLimiter(settings),
        clock=clock,
        direct_write=DirectWrite(settings.sse_direct_write),
        accounts=Accounts(
            engine,
            bus,
            clock,
            SessionLifetime(
                idle=timedelta(days=settings.session_idle_days),
                absolute=timedelta(days=settings.session_max_days),
            ),
        ),
        login_limiter=sign_in.login_limiter(settings),
    )


async def _start_live(services: Services) -> int:
    """The hub starts from the stored state, then follows what gets stored.

    Returns the highest device id it knows, where the search for new devices starts.
    """
    try:
        views = await run_in_threadpool(load_views, services.devices, services.clock())
    except StorageUnavailable as exc:
        logger.warning("the dashboard starts empty: %s", exc.reason)
        views = []
    services.hub.load(views)
    await services.hub.start(services.measurements.subscribe(maxsize=100_000))
    return max((view.id for view in views), default=0)


async def _warn_if_schema_is_behind(services: Services) -> None:
    try:
        current = await run_in_threadpool(schema_migrations.current_revision, services.engine)
    except Exception as exc:
        logger.warning("cannot read the database schema version (%s); check the database", exc)
        return
    head = schema_migrations.head_revision()
    if current != head:
        logger.warning(
            "the database schema is at %s, not %s: run `telemetry migrate` "
            "(`telemetry serve` does it for you)",
            current or "nothing",
            head,
        )


class TelemetryApp(FastAPI):
    """The FastAPI app with the event streams answered outside all its middleware.

    Outside even Starlette's error middleware, which wraps `send` in a closure: a stream
    must see the server's own `send` to write to its socket (app/web/direct_write.py).
    """

    def build_middleware_stack(self) -> ASGIApp:
        return event_stream.EventStreams(super().build_middleware_stack())

    def end_streams_threadsafe(self) -> None:
        """End every live stream and open no more: the server is stopping (any thread)."""
        services: Services = self.state.services
        services.hub.end_streams_threadsafe()


def create_app(settings: Settings, *, clock: Clock = utc_now) -> TelemetryApp:
    """A complete server for `settings`; build as many as you like (tests do)."""
    services = build_services(settings, clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await _warn_if_schema_is_behind(services)
        services.direct_write.warn_if_off()
        await services.measurements.start()
        services.devices_seen_through = await _start_live(services)
        loop = asyncio.get_running_loop()
        accounts = services.accounts
        ended = accounts.subscribe_sessions_ended(maxsize=10_000)
        sent = accounts.subscribe_notifications(maxsize=10_000)
        reads = accounts.subscribe_reads(maxsize=10_000)
        notes = accounts.subscribe_notes(maxsize=10_000)
        tasks = [
            loop.create_task(housekeeping.prune_forever(services)),
            loop.create_task(housekeeping.follow_new_devices(services)),
            loop.create_task(housekeeping.end_streams_of_ended_sessions(services, ended)),
            loop.create_task(housekeeping.recheck_stream_sessions(services)),
            loop.create_task(live_bridge.deliver_notifications(services, sent)),
            loop.create_task(live_bridge.deliver_reads(services, reads)),
            loop.create_task(live_bridge.deliver_notes(services, notes)),
            loop.create_task(live_bridge.announce_from_elsewhere(services)),
        ]
        # Everything built so far lives as long as the process: move it out of the
        # garbage collector's sight, so full collections stop rescanning the whole
        # framework and no longer stall requests (tens of ms each without this).
        gc.collect()
        gc.freeze()
        # Thousands of open streams are hundreds of thousands of long-lived objects, and
        # each tick's fan-out briefly allocates a future and a message per stream: with
        # the default thresholds that set off a full collection every few seconds, a
        # one-second stall at 10,000 viewers (docs/benchmarks.md). Young generations are
        # collected as usual; full collections a hundred times less often.
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await services.hub.stop()
            await services.measurements.stop()
            await services.bus.aclose()
            services.engine.dispose()

    app = TelemetryApp(
        title="Telemetry",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        # /openapi.json and /docs are routes of app/web/docs_page.py, behind sign-in.
        openapi_url=None,
        # /docs is our own route, on the vendored Swagger UI (app/web/docs_page.py);
        # FastAPI's loads it from a CDN. No ReDoc (docs_page.py says why), no OAuth.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # Metrics are served at /metrics; FastAPI's OpenTelemetry hooks would cost a
        # provider lookup on every request for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.services = services
    install_error_handlers(app)
    install_auth_answers(app)
    install_allowed_methods(app)
    # Inside the ingest routes' middleware (added next, so outside this one): ingest
    # answers are JSON and pay nothing for it.
    app.add_middleware(SecurityHeaders)
    ingest.install(app)
    app.include_router(sign_in.router)
    app.include_router(admin_pages.router)
    app.include_router(admin_api.router)
    app.include_router(devices.router)
    app.include_router(history.router)
    app.include_router(notes_api.router)
    app.include_router(event_stream.router)
    app.include_router(live_views.router)
    app.include_router(presence_api.router)
    app.include_router(notifications_api.router)
    app.include_router(inbox.router)
    app.include_router(pages.router)
    app.include_router(health.router)
    app.include_router(docs_page.router)
    app.mount("/static", StaticFiles(directory=resource_path("static")), name="static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = api_document.build_document(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_app_from_env() -> TelemetryApp:
    """The app for `uvicorn --factory app.main:create_app_from_env`, configured by TELEMETRY_*."""
    return create_app(Settings.from_environ(os.environ))
