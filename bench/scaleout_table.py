"""What the scale-out benches (bench/distributed.py and its parts) share: the backend switch, one table."""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table


def run_jobs_on(address: str | None) -> None:
    """Send this process's jobs to the Ray head at `address`, or back to the embedded backend (None)."""
    from modelplane.config import get_settings

    if address is None:
        os.environ.pop("MODELPLANE_RAY_ADDRESS", None)
    else:
        os.environ["MODELPLANE_RAY_ADDRESS"] = address
    get_settings.cache_clear()


COLUMNS = ("measure", "reference", "ours", "ratio_or_delta", "target", "met")


def show(title: str, rows: list[dict[str, object]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in COLUMNS:
        table.add_column(column)
    for row in rows:
        met = row["met"]
        shown = {**row, "met": "-" if met is None else ("PASS" if met else "FAIL")}
        table.add_row(*(str(shown[c]) for c in COLUMNS))
    Console(width=180).print(table)
