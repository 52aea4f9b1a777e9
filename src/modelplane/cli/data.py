"""`modelplane data ...`: add dataset versions, list and inspect them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modelplane.cli.confirm import YES_HELP, confirm
from modelplane.cli.context import platform
from modelplane.cli.output import console, err_console, fail, key_values, print_json, table

if TYPE_CHECKING:
    from modelplane.data.catalog import DatasetVersionInfo

app = typer.Typer(
    help="Datasets: ingest files or built-ins as immutable, content-hashed versions.", no_args_is_help=True
)


def _image_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        fail(f"--image-size {text!r} is not WIDTHxHEIGHT (e.g. 28x28)")
    return int(width), int(height)


def _names(values: list[str] | None) -> tuple[str, ...]:
    """Column names from repeatable, comma-separated flags (`--categorical plan,region --categorical x`)."""
    return tuple(name.strip() for value in values or () for name in value.split(",") if name.strip())


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Dataset name, e.g. digits")],
    source: Annotated[
        str | None,
        typer.Option(
            "--from", help="File, folder or builtin:NAME (digits, iris, wine, breast_cancer, diabetes)"
        ),
    ] = None,
    from_feedback: Annotated[
        str | None,
        typer.Option(
            "--from-feedback",
            help="A deployment: its logged predictions that have feedback, in its training data's layout",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="With --from-feedback: predictions of the last 7d, 1h, ... (default all)"),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Target column (CSV/Parquet), array (NPZ) or labels file (IDX)")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="classification or regression (inferred when omitted)")
    ] = None,
    append: Annotated[
        bool,
        typer.Option(
            "--append", help="Add these rows to the latest version, read with its target, roles and columns"
        ),
    ] = False,
    drop_na: Annotated[
        bool, typer.Option("--drop-na", help="Drop rows with a missing target or feature value")
    ] = False,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Columns to leave out, comma-separated (repeatable)")
    ] = None,
    drop: Annotated[list[str] | None, typer.Option("--drop", help="Another name for --ignore")] = None,
    categorical: Annotated[
        list[str] | None, typer.Option(help="Columns read as categories (text; numbers become text)")
    ] = None,
    numeric: Annotated[list[str] | None, typer.Option(help="Columns read as numbers")] = None,
    boolean: Annotated[
        list[str] | None, typer.Option(help="Columns read as booleans (true/false, yes/no, 1/0)")
    ] = None,
    datetime: Annotated[
        list[str] | None,
        typer.Option(help="Columns read as dates: ISO 8601 text, or numbers as epoch seconds"),
    ] = None,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="Id columns: kept with the rows, never features")
    ] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows read per chunk (bounds memory)")] = 65_536,
    image_size: Annotated[str | None, typer.Option(help="Resize images to WIDTHxHEIGHT")] = None,
    image_mode: Annotated[str | None, typer.Option(help="Image colour mode: L (grey) or RGB")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the version as JSON")] = False,
) -> None:
    """Ingest SOURCE as a new version of dataset NAME (identical content adds nothing).

    A CSV, TSV or Parquet file is read as a table. Each column but the target gets a role, inferred from
    the first 65,536 rows unless a flag names it: empty columns are left out; true/false -> boolean; ISO
    dates -> datetime; integers or space-free text unique in every row -> id, with 20 rows or more or a
    name like id, *_id, *Id (kept with the rows, never a feature); other numbers -> numeric; text with at
    most 50 distinct values (or 5 % of rows) -> categorical; more is free text, refused until a text model
    family exists: --ignore it or declare it --categorical. Missing feature values are kept (imputed at
    training). Every problem is reported in one run.

    --from-feedback DEPLOYMENT: the deployment's predictions that have ground truth (`monitor feedback`)
    become rows read like the data its model was trained on, the labels as the target; when NAME exists
    they follow its latest version's rows.
    """
    if (source is None) == (from_feedback is None):
        fail("give one source: --from FILE|FOLDER|builtin:NAME, or --from-feedback DEPLOYMENT")
    if since is not None and from_feedback is None:
        fail("--since applies to --from-feedback only; remove it")
    source = source if source is not None else f"feedback:{from_feedback}"
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json or not err_console.is_terminal,
    ) as progress:
        bar = progress.add_task(f"ingesting {source}", total=None)
        result = platform().datasets.add(
            name,
            source=source,
            target=target,
            task=task,
            append=append,
            drop_na=drop_na,
            drop_columns=_names([*(ignore or []), *(drop or [])]),
            categorical=_names(categorical),
            numeric=_names(numeric),
            boolean=_names(boolean),
            datetime=_names(datetime),
            ids=_names(ids),
            chunk_rows=chunk_rows,
            image_size=_image_size(image_size),
            image_mode=image_mode,
            on_rows=lambda rows: progress.update(bar, completed=rows),
            since=since,
        )
    version = result.version
    for notice in result.notices:
        err_console.print(f"note: {notice}", highlight=False, soft_wrap=True)
    if as_json:
        print_json({**version.to_dict(), "created": result.created, "notices": result.notices})
        return
    if result.created:
        new = version.num_rows - version.new_rows_start
        console.print(
            f"added [bold]{version.ref}[/]: {version.num_rows:,} rows ({new:,} new), "
            f"task {version.task or '-'}, hash {version.content_hash[:12]}"
        )
    else:
        console.print(
            f"unchanged: identical content is already [bold]{version.ref}[/] "
            f"(hash {version.content_hash[:12]})"
        )


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Datasets and their latest versions."""
    summaries = platform().datasets.list()
    if as_json:
        print_json([s.to_dict() for s in summaries])
        return
    table(
        "datasets",
        ["name", "versions", "latest", "rows", "task", "features", "created"],
        [
            (
                s.name,
                s.versions,
                s.latest.version if s.latest else None,
                s.latest.num_rows if s.latest else None,
                s.latest.task if s.latest else None,
                s.latest.feature_shape if s.latest else None,
                s.latest.created_at if s.latest else None,
            )
            for s in summaries
        ],
    )


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Versions, schema, columns and their roles, content hash and class balance of a dataset."""
    local = platform()
    version = local.datasets.get(ref)
    versions = local.datasets.versions(version.dataset)
    if as_json:
        print_json({"version": version.to_dict(), "versions": [v.to_dict() for v in versions]})
        return
    table(
        f"dataset {version.dataset}",
        ["version", "rows", "new rows", "parent", "hash", "source", "created", "by"],
        [
            (
                v.version,
                v.num_rows,
                v.num_rows - v.new_rows_start,
                v.parent_version,
                v.content_hash[:12],
                v.source,
                v.created_at,
                v.created_by,
            )
            for v in versions
        ],
    )
    names = version.feature_names
    key_values(
        f"{version.ref}",
        [
            ("format", version.format),
            ("rows", f"{version.num_rows:,}"),
            ("task", version.task),
            ("target", version.target_name),
            ("feature shape", version.feature_shape),
            ("feature type", version.feature_dtype),
            ("image shape", version.image_shape),
            (
                "features",
                ", ".join(names[:12]) + (f" ... ({len(names)} in all)" if len(names) > 12 else "")
                if names
                else None,
            ),
            ("left out", _left_out(version.ingest_options)),
            ("content hash", version.content_hash),
        ],
    )
    if version.columns is not None:
        _columns(version)
    counts = version.stats.get("class_counts")
    if counts:
        total = sum(counts.values())
        table(
            "class balance",
            ["class", "rows", "share"],
            [(label, n, f"{100 * n / total:.1f}%") for label, n in counts.items()],
        )
    target = [(k.removeprefix("target_"), v) for k, v in version.stats.items() if k.startswith("target_")]
    if target:
        key_values("target", target)


def _left_out(options: dict[str, Any]) -> str | None:
    ignored = [f"{name} (ignored)" for name in options.get("ignore", [])]
    empty = [f"{name} (empty)" for name in options.get("empty", [])]
    return ", ".join(ignored + empty) or None


def _columns(version: DatasetVersionInfo) -> None:
    """The table's columns and roles, with what ingest counted of each."""
    stats = version.stats.get("columns", {})
    rows = []
    for column in version.columns or []:
        seen = stats.get(column.name, {})
        rows.append((column.name, column.role, seen.get("missing"), _described(column.role, seen)))
    table("columns", ["column", "role", "missing", "values"], rows)


def _described(role: str, seen: dict[str, Any]) -> str | None:
    if role == "categorical" and "distinct" in seen:
        return f"{seen['distinct']:,}{'+' if seen.get('distinct_capped') else ''} distinct"
    if role == "boolean" and "true" in seen:
        return f"{seen['true']:,} true"
    if role == "numeric" and "min" in seen:
        return f"{seen['min']:.4g} to {seen['max']:.4g}, mean {seen['mean']:.4g}"
    if role == "datetime" and "min" in seen:
        first, last = (time.strftime("%Y-%m-%d %H:%M", time.gmtime(seen[k])) for k in ("min", "max"))
        return f"{first} to {last} UTC"
    return None


@app.command("delete")
def delete(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, or NAME for every version")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help=YES_HELP)] = False,
) -> None:
    """Delete a dataset version, or a whole dataset (refused while a run, model version, appended version,
    retrain policy or job reads it). Files are freed by `modelplane gc`."""
    confirm(f"delete dataset {ref}{'' if '@' in ref else ' with every version'}?", yes)
    deleted = platform().datasets.delete(ref)
    console.print(f"deleted {', '.join(deleted)}")
