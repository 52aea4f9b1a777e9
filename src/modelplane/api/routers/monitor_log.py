"""GET /api/v1/deployments/{name}/predictions: the prediction log, as JSON rows or a Parquet file."""

from __future__ import annotations

import io
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from modelplane.api.deps import ControlState, require, state
from modelplane.errors import Invalid
from modelplane.monitoring.log_query import MAX_LIMIT, read_predictions
from modelplane.security.principal import Principal

router = APIRouter(tags=["monitoring"])

MAX_JSON_ROWS = 100_000  # JSON rows cost ~20x their Parquet size; larger reads ask for format=parquet
PARQUET = "application/vnd.apache.parquet"


@router.get("/deployments/{name}/predictions", response_model=None)
async def predictions_read(
    name: str,
    since: str | None = Query(None, description="A duration ago (1h, 7d) or an ISO time"),
    until: str | None = Query(None, description="A duration ago or an ISO time (exclusive)"),
    limit: int = Query(1000, ge=1, le=MAX_LIMIT, description="The newest rows, at most"),
    format: Literal["json", "parquet"] = Query("json"),
    caller: Principal = require("deployments:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any] | Response:
    """The newest `limit` logged rows in [since, until), oldest first. JSON: `{"rows": [...], "classes":
    [...]}`, each row keyed by column (`f:<feature>` for features); Parquet: the rows as one file."""
    if format == "json" and limit > MAX_JSON_ROWS:
        raise Invalid(f"limit is at most {MAX_JSON_ROWS:,} for JSON; ask for format=parquet to read more")
    table = await run_in_threadpool(read_predictions, s.store, name, since=since, until=until, limit=limit)
    if format == "parquet":
        return Response(await run_in_threadpool(_parquet, table), media_type=PARQUET)
    return await run_in_threadpool(_json, table)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _json(table: pa.Table) -> dict[str, Any]:
    from modelplane.monitoring.schema import classes_of

    rows = table.to_pylist()
    for row in rows:
        when = row.get("time")
        if when is not None:
            row["time"] = when.isoformat()
    return {"rows": rows, "classes": classes_of(table.schema)}
