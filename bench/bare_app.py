"""The baseline: a bare FastAPI endpoint that validates the same body and stores nothing.

Run by bench/ingest.py next to the real server, so that the ratio of the two is
measured on the same machine in the same minute. The models are the plain FastAPI way
of declaring the same body (the server reads its body with TypedDicts instead).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictFloat

app = FastAPI()


class MeasurementIn(BaseModel):
    """One measurement, as a FastAPI body model."""

    model_config = ConfigDict(extra="forbid")
    measured_at: AwareDatetime | None = None
    values: dict[str, StrictFloat] = Field(min_length=1)


class BatchIn(BaseModel):
    """A batch, as a FastAPI body model."""

    model_config = ConfigDict(extra="forbid")
    measurements: list[MeasurementIn] = Field(min_length=1, max_length=1000)


@app.post("/api/v1/measurements", status_code=201)
async def post_measurement(body: MeasurementIn) -> JSONResponse:
    """Validate one measurement; answer as the real server would."""
    return JSONResponse({"stored": len(body.values), "duplicates": 0}, status_code=201)


@app.post("/api/v1/measurements/batch", status_code=201)
async def post_batch(body: BatchIn) -> JSONResponse:
    """Validate a batch; answer as the real server would."""
    stored = sum(len(m.values) for m in body.measurements)
    return JSONResponse({"stored": stored, "duplicates": 0}, status_code=201)


_ = datetime  # the models' annotations are resolved at import
