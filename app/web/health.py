"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from app.db import translate_storage_errors
from app.telemetry import StorageUnavailable
from app.web.api_models import HealthOut
from app.web.auth import ADMIN_REFUSALS, metrics_reader
from app.web.deps import ServicesDep
from app.web.metrics import render_metrics

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="The process is up")
async def healthz() -> HealthOut:
    """Answers as long as the server process runs; for liveness probes."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=HealthOut,
    summary="The database answers and takes writes",
    responses={
        503: {
            "model": HealthOut,
            "description": "The database does not answer, or refused the latest write.",
        }
    },
)
async def readyz(services: ServicesDep) -> HealthOut | JSONResponse:
    """200 when the database answers and takes writes; 503 with the reason otherwise.

    A write the database refused (the disk full, the database locked or unreachable)
    makes this 503 until a write commits again; a failed fsync, until a restart.
    """

    def ping() -> None:
        with translate_storage_errors(), services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        refusal = services.measurements.write_refusal()
        if refusal is not None:
            raise refusal
        await run_in_threadpool(ping)
    except StorageUnavailable as exc:
        return JSONResponse(
            {"status": "unavailable", "detail": exc.reason},
            status_code=503,
            headers={"Retry-After": str(exc.retry_after)},
        )
    return HealthOut(status="ok")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format."},
        **ADMIN_REFUSALS,
    },
    dependencies=[Depends(metrics_reader)],
)
async def metrics(services: ServicesDep) -> Response:
    """Counters of the ingest path in the Prometheus text format (admins, unless
    TELEMETRY_METRICS_PUBLIC is on)."""
    body, content_type = render_metrics(services)
    return Response(content=body, media_type=content_type)
