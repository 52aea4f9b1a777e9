"""`modelplane monitor feedback` and `monitor live`: send ground truth for logged predictions, and see each
served version's live metrics beside its test metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, print_json, table
from modelplane.errors import Invalid, NotFound

if TYPE_CHECKING:
    from modelplane.monitoring.feedback import FeedbackResult
    from modelplane.monitoring.live import LiveMetrics

BATCH = 100_000  # the most items one request takes


def read_labels(path: Path) -> list[dict[str, Any]]:
    """Items from a CSV or Parquet file (columns request_id, optional row, label or value) or a JSON file
    (a list of such objects, or {"items": [...]})."""
    if not path.is_file():
        raise NotFound(
            f"no such file: {path}; give a .csv, .parquet or .json file of request_id[,row],label|value"
        )
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise Invalid(
                f"{path} is not JSON ({exc}); write a list of {{request_id, row, label|value}} objects"
            ) from None
        items = data.get("items") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise Invalid(f'{path} must hold a list of items or {{"items": [...]}}')
        return list(items)
    import pyarrow as pa

    try:
        if suffix == ".csv":
            import pyarrow.csv as pcsv

            types = {"request_id": pa.string(), "label": pa.string()}
            table_ = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types))
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            table_ = pq.read_table(path)
        else:
            raise Invalid(f"{path}: unknown format {suffix or '(none)'}; use .csv, .parquet or .json")
    except (pa.ArrowInvalid, OSError) as exc:
        raise Invalid(f"cannot read {path} ({exc}); write columns request_id[,row],label|value") from None
    if "request_id" not in table_.column_names:
        raise Invalid(f"{path} has no request_id column; its columns are {', '.join(table_.column_names)}")
    wanted = [c for c in ("request_id", "row", "label", "value") if c in table_.column_names]
    rows = table_.select(wanted).to_pylist()
    return [{k: v for k, v in row.items() if v is not None} for row in rows]


def _sum(results: list[FeedbackResult]) -> dict[str, Any]:
    return {
        "accepted": sum(r.accepted for r in results),
        "replaced": sum(r.replaced for r in results),
        "unknown": sum(r.unknown for r in results),
        "unknown_ids": [i for r in results for i in r.unknown_ids][:20],
    }


def feedback(
    deployment: Annotated[str, typer.Argument(help="The deployment whose predictions these labels are for")],
    source: Annotated[
        Path,
        typer.Option(
            "--from", help="labels.csv / .parquet (columns request_id[,row],label|value) or .json (items)"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON")] = False,
) -> None:
    """Send ground truth for logged predictions: `label` is the class name as served (an integer is a
    class index unless the classes are numbers), `value` the true number for a regressor. A row labelled
    again keeps its last label; ids the prediction log does not hold are counted and listed, not stored.
    Larger files go in batches of 100,000."""
    items = read_labels(source)
    area = platform().feedback
    results = [area.send(deployment, items[start : start + BATCH]) for start in range(0, len(items), BATCH)]
    summed = _sum(results)
    if as_json:
        print_json(summed)
        return
    console.print(
        f"{summed['accepted']:,} labels stored for {deployment} ({summed['replaced']:,} replaced an earlier "
        f"label); {summed['unknown']:,} unknown",
        highlight=False,
    )
    if summed["unknown_ids"]:
        console.print(f"unknown request ids: {', '.join(summed['unknown_ids'])}", highlight=False)


def _pair(live: float | None, test: float | None) -> str:
    if live is None and test is None:
        return "-"
    shown = f"{live:.4f}" if live is not None else "-"
    return f"{shown} (test {test:.4f})" if test is not None else shown


def live(
    deployment: Annotated[str, typer.Argument(help="Deployment name")],
    window: Annotated[
        str, typer.Option(help="The last 1h, 1d, 7d or any duration (30m, 2w) of predictions")
    ] = "1h",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Live metrics per served version: the window's predictions that have feedback, scored (accuracy
    and macro F1, or MAE and RMSE), beside the version's test metrics from the registry."""
    found: list[LiveMetrics] = platform().feedback.live(deployment, window=window)
    if as_json:
        print_json([m.to_dict() for m in found])
        return
    if not found:
        console.print(f"{deployment} logged no predictions in the last {window}", highlight=False)
        return
    classifier = found[0].task == "classification"
    names = ("accuracy", "f1") if classifier else ("mae", "rmse")
    rows = [
        [
            m.version,
            m.model,
            m.rows,
            m.labelled,
            *(_pair(getattr(m, n), m.test.get(f"test_{n}")) for n in names),
        ]
        for m in found
    ]
    columns = [
        "version",
        "model",
        "rows",
        "labelled",
        *(("accuracy", "F1 macro") if classifier else ("MAE", "RMSE")),
    ]
    table(f"{deployment}: live vs test, last {window}", columns, rows)


def register(app: typer.Typer) -> None:
    app.command("feedback")(feedback)
    app.command("live")(live)
