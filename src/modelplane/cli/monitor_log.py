"""`modelplane monitor log DEPLOYMENT`: what a deployment was asked and what it answered."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, print_json, table

SHOWN_FEATURES = 3  # the table shows the first few features; --json and --parquet carry all of them


def register(app: typer.Typer) -> None:
    app.command("log")(log)


def log(
    deployment: Annotated[str, typer.Argument(help="The deployment whose predictions to show")],
    since: Annotated[
        str | None, typer.Option(help="From this long ago (1h, 7d) or this ISO time (UTC when no zone)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Up to (not including) this time; same forms")] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="The newest rows, at most (20; 1,000,000 with --parquet)", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON")] = False,
    parquet: Annotated[
        Path | None, typer.Option(help="Write the rows (every column) to this Parquet file instead")
    ] = None,
) -> None:
    """Show the prediction log: time, request id, row, version, key, latency, answer (or the failed
    request's status), the first few features."""
    from modelplane.monitoring.log_query import MAX_LIMIT  # here: the CLI starts without pyarrow

    if limit is None:
        limit = MAX_LIMIT if parquet is not None else 20
    rows = platform().predictions.read(deployment, since=since, until=until, limit=limit)
    if parquet is not None:
        import pyarrow.parquet as pq

        pq.write_table(rows, parquet, compression="zstd")
        console.print(f"wrote {rows.num_rows:,} rows to {parquet}")
        return
    if as_json:
        print_json([_plain(row) for row in rows.to_pylist()])
        return
    if rows.num_rows == 0:
        console.print(f"no logged predictions for {deployment} in that window")
        return
    features = [n for n in rows.schema.names if n.startswith("f:")][:SHOWN_FEATURES]
    columns = ["time", "request id", "row", "version", "key", "latency ms", "answer"]
    table(
        f"{deployment}: {rows.num_rows:,} rows",
        [*columns, *(n[2:] for n in features)],
        (_row(row, features) for row in rows.to_pylist()),
    )


def _answer(row: dict[str, Any]) -> Any:
    from modelplane.monitoring.schema import ANSWERED

    if row["status"] != ANSWERED:
        return f"failed ({row['status']})"
    if row.get("label") is not None:
        probabilities = row.get("probabilities")
        return f"{row['label']} ({max(probabilities):.2f})" if probabilities else row["label"]
    return row.get("prediction")


def _row(row: dict[str, Any], features: list[str]) -> list[Any]:
    head = [
        row["time"],
        row["request_id"],
        row["row"],
        row["version"],
        row.get("key_id"),
        row["latency_ms"],
        _answer(row),
    ]
    return head + [row.get(name) for name in features]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    when = row.get("time")
    return {**row, "time": when.isoformat() if when is not None else None}
