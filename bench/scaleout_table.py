"""The one table format of the scale-out benches (bench/distributed.py and its parts)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

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
