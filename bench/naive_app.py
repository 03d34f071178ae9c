"""A naive ingest endpoint: one session, one transaction and one fsync per request.

The way the endpoint is usually first written with FastAPI and the SQLAlchemy ORM; run
by bench/ingest.py (--naive) on the same schema and database settings as the server,
to show what group commit and the WAL flusher are worth.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import create_db_engine, create_session_factory, writer_engine
from app.telemetry.models import Device, Measurement, Series
from app.telemetry.tokens import hash_token
from bench.bare_app import MeasurementIn

settings = Settings.from_environ(os.environ)
# BEGIN IMMEDIATE, as the server's writer: concurrent deferred transactions would fail.
sessions = create_session_factory(writer_engine(create_db_engine(settings)))
app = FastAPI()


def session() -> Iterator[Session]:
    with sessions() as db:
        yield db


@app.post("/api/v1/measurements", status_code=201)
def post_measurement(
    body: MeasurementIn,
    db: Annotated[Session, Depends(session)],
    authorization: Annotated[str, Header()],
) -> JSONResponse:
    """Authenticate, insert each value with the ORM, commit, answer."""
    token = authorization.removeprefix("Bearer ")
    device = db.scalar(select(Device).where(Device.token_hash == hash_token(token)))
    if device is None:
        raise HTTPException(401)
    measured_at = body.measured_at or datetime.now(UTC)
    for quantity, value in body.values.items():
        series = db.scalar(
            select(Series).where(Series.device_id == device.id, Series.quantity == quantity)
        )
        if series is None:
            series = Series(device_id=device.id, quantity=quantity)
            db.add(series)
            db.flush()
        db.add(Measurement(series_id=series.id, measured_at=measured_at, value=value))
    db.commit()
    return JSONResponse({"stored": len(body.values), "duplicates": 0}, status_code=201)
