"""`modelplane data ...`: add dataset versions, list and inspect them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modelplane.cli.context import platform
from modelplane.cli.output import console, err_console, fail, key_values, print_json, table

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


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Dataset name, e.g. digits")],
    source: Annotated[
        str,
        typer.Option(
            "--from", help="File, folder or builtin:NAME (digits, iris, wine, breast_cancer, diabetes)"
        ),
    ],
    target: Annotated[
        str | None, typer.Option(help="Target column (CSV/Parquet), array (NPZ) or labels file (IDX)")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="classification or regression (inferred when omitted)")
    ] = None,
    append: Annotated[bool, typer.Option("--append", help="Add these rows to the latest version")] = False,
    drop_na: Annotated[bool, typer.Option("--drop-na", help="Drop rows with missing values")] = False,
    drop: Annotated[list[str] | None, typer.Option("--drop", help="Column to leave out (repeatable)")] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows read per chunk (bounds memory)")] = 65_536,
    image_size: Annotated[str | None, typer.Option(help="Resize images to WIDTHxHEIGHT")] = None,
    image_mode: Annotated[str | None, typer.Option(help="Image colour mode: L (grey) or RGB")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the version as JSON")] = False,
) -> None:
    """Ingest SOURCE as a new version of dataset NAME (identical content adds nothing)."""
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
            drop_columns=tuple(drop or ()),
            chunk_rows=chunk_rows,
            image_size=_image_size(image_size),
            image_mode=image_mode,
            on_rows=lambda rows: progress.update(bar, completed=rows),
        )
    version = result.version
    if as_json:
        print_json({**version.to_dict(), "created": result.created})
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
    """Versions, schema, content hash and class balance of a dataset."""
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
            ("content hash", version.content_hash),
        ],
    )
    counts = version.stats.get("class_counts")
    if counts:
        total = sum(counts.values())
        table(
            "class balance",
            ["class", "rows", "share"],
            [(label, n, f"{100 * n / total:.1f}%") for label, n in counts.items()],
        )
    elif version.stats:
        key_values("target", [(k.removeprefix("target_"), v) for k, v in version.stats.items()])
