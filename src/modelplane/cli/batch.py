"""`modelplane batch`: predict every row of a file through a deployment, as a resumable job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.cli.context import platform
from modelplane.cli.jobs import JobBar, announce_queued
from modelplane.cli.output import console, print_json


def batch(
    deployment: Annotated[str, typer.Argument(help="Deployment name")],
    input_path: Annotated[Path, typer.Option("--input", help="Rows to predict: .csv, .parquet or .npz")],
    output: Annotated[Path, typer.Option("--output", help="Predictions file: .parquet or .csv")],
    id_column: Annotated[
        str | None, typer.Option(help="Input column copied to each prediction (default: row number from 0)")
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(help="Rows per committed chunk: memory use, and what a resumed job redoes at most")
    ] = 50_000,
    batch_size: Annotated[int, typer.Option(help="Rows per runtime call")] = 4096,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the output if it exists")] = False,
    background: Annotated[
        bool, typer.Option("--background", help="Queue the job and return its id at once")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the finished job as JSON")] = False,
) -> None:
    """Predict every row of a CSV/Parquet/NPZ file through a deployment, as a resumable job.

    Same runtimes and ensemble rules as serving; streamed in chunks (bounded memory); every row once and
    in order; resumed after a crash from its committed chunks; the output appears only when complete."""
    local = platform()
    options: dict[str, Any] = {
        "id_column": id_column,
        "chunk_rows": chunk_rows,
        "batch_size": batch_size,
        "overwrite": overwrite,
    }
    if background:
        announce_queued(
            local.batch(deployment, input_path, output, background=True, **options), as_json=as_json
        )
        return
    with JobBar(f"batch {deployment}", quiet=quiet or as_json) as bar:
        job = local.batch(deployment, input_path, output, on_update=bar.update, **options)
    if as_json:
        print_json(job.to_dict())
        return
    result = job.result or {}
    rate = result.get("rows_per_s")
    console.print(
        f"wrote {result.get('rows', 0):,} predictions to {output}"
        + (f" ({rate:,.0f} rows/s)" if rate else "")
        + f"; job {job.id}"
    )
