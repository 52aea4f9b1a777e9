"""A batch prediction as submitted, checked completely before it is queued: the deployment, the input's
columns and types against its model, and the output path. A worker never finds out a request was bad."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelplane.data.inputs import inspect_input
from modelplane.errors import Invalid
from modelplane.jobs.batch.outputs import ROW_NUMBER, output_columns
from modelplane.jobs.batch.paths import check_output
from modelplane.jobs.batch.predictor import pin_deployment
from modelplane.registry.tables import model_columns
from modelplane.store import Store
from modelplane.validation import validated


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deployment: str
    input: str
    output: str
    id_column: str | None = None
    chunk_rows: int = Field(50_000, ge=1, le=10_000_000, description="rows per committed chunk")
    batch_size: int = Field(4096, ge=1, le=1_000_000, description="rows per runtime call")
    overwrite: bool = False


def parse_batch_request(data: Mapping[str, Any]) -> BatchRequest:
    return validated(BatchRequest, data, "batch request")


def plan_batch(store: Store, request: BatchRequest) -> dict[str, Any]:
    """The job's params: everything a worker needs, with the deployment pinned to exact versions."""
    output = Path(request.output).expanduser().resolve()
    source = Path(request.input).expanduser().resolve()
    fmt = check_output(output, overwrite=request.overwrite)
    if source == output:
        raise Invalid("the output would overwrite the input; write the predictions to another file")
    pinned = pin_deployment(store, request.deployment)
    layout = inspect_input(source, id_column=request.id_column, **model_columns(store, pinned.versions[0]))
    id_name = request.id_column or ROW_NUMBER
    if id_name in output_columns(pinned.task, pinned.classes, pinned.outputs):
        raise Invalid(f"id column '{id_name}' has the name of a prediction column; rename it in the input")
    stat = source.stat()
    return {
        "deployment": pinned.to_dict(),
        "input": str(source),
        "input_stat": {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        "layout": layout.to_dict(),
        "output": str(output),
        "output_format": fmt,
        "chunk_rows": request.chunk_rows,
        "batch_size": request.batch_size,
    }
