"""A comparison as a Rich table: one column per version, each cell relative to the first column."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modelplane.compression.views import Comparison


def _kb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:,.1f} KB"


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _metric(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _times(ratio: float | None) -> str:
    return "" if ratio is None else f" (×{ratio:.2f})"


def _delta(diff: float | None) -> str:
    return "" if diff is None else f" ({diff:+.4f})"


def _against_first(values: Sequence[str], notes: Sequence[str]) -> list[str]:
    """The baseline's value bare, every other value followed by its note (ratio or difference)."""
    return [values[0], *(value + note for value, note in zip(values[1:], notes[1:], strict=True))]


def render_comparison(comparison: Comparison, *, console: Console, title: str | None = None) -> None:
    versions = comparison.versions
    relative = [comparison.relative(m) for m in versions]
    table = Table(
        title=escape(title or f"compared with {comparison.baseline}"),
        title_justify="left",
        header_style="bold",
    )
    table.add_column("measure")
    for measures in versions:
        table.add_column(escape(measures.ref), justify="right")

    table.add_row("made by", *(escape(m.method) for m in versions))
    table.add_row("parent", *(escape(m.parent or "-") for m in versions))
    table.add_row("kind", *(f"{m.kind} ({m.framework})" for m in versions))
    table.add_row("test data", *(escape(m.dataset or "-") for m in versions))
    sizes = (
        ("serving file", "file_bytes", _kb),
        ("  deflated", "zlib_bytes", _kb),
        ("parameters", "parameters", _count),
        ("  nonzero", "nonzero_parameters", _count),
    )
    for label, field, shown in sizes:
        values = [shown(getattr(m, field)) for m in versions]
        table.add_row(label, *_against_first(values, [_times(r[field]) for r in relative]))
    for key in versions[0].latency_ms:
        values = [_ms(m.latency_ms.get(key)) for m in versions]
        notes = [_times(r["latency"].get(key)) for r in relative]
        table.add_row(f"ms/sample, {key.replace('batch', 'batch ')}", *_against_first(values, notes))
    for name in dict.fromkeys(name for m in versions for name in m.metrics):
        values = [_metric(m.metrics.get(name)) for m in versions]
        notes = [_delta(r["metrics"].get(name)) for r in relative]
        table.add_row(f"test {name}", *_against_first(values, notes))
    console.print(table)
    runtimes = ", ".join(sorted({m.runtime for m in versions}))
    console.print(f"latency: best of rounds taken in turns on {runtimes}", style="dim")
