"""`modelplane gc`: reclaim storage no live row needs, and show the bytes freed per category."""

from __future__ import annotations

from typing import Annotated

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, print_json, table


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit} ({n} B)"


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be freed; change nothing")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Apply retention policies, then remove unreferenced artifacts (deleted versions' and datasets' files),
    crashed writers' temp files, stale uploads, old job folders and finished studies' checkpoints (admin).
    Anything younger than an hour is left for a writer that may be about to use it."""
    report = platform().gc(dry_run=dry_run)
    if as_json:
        print_json({**report.to_dict(), "total_bytes": report.total_bytes})
        return
    verb = "would free" if dry_run else "freed"
    table(
        f"gc ({'dry run' if dry_run else 'done'} in {report.seconds:.2f} s)",
        ["category", "items", verb],
        [
            *((c.name, c.items, _size(c.bytes)) for c in report.categories),
            ("total", sum(c.items for c in report.categories), _size(report.total_bytes)),
        ],
    )
    if report.retired:
        console.print(f"retention retired {', '.join(report.retired)}")
