"""The CLI's report tables: an evaluation report, and a comparison of versions (one column per version,
each cell relative to the first column)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from modelplane.compression.views import Comparison
    from modelplane.evaluation.views import EvaluationReport

MAX_CONFUSION_CLASSES = 20


def render_report(report: EvaluationReport, *, title: str, console: Console) -> None:
    """Headline metrics, per-class table and confusion matrix (up to 20 classes), latency."""
    metrics = report.metrics
    headline = Table(title=f"{escape(title)} — {report.task}, {report.n_samples} samples")
    headline.add_column("metric")
    headline.add_column("value", justify="right")
    for name, value in metrics.items():
        if not isinstance(value, dict | list):  # per_class and confusion_matrix get their own tables
            headline.add_row(name, _fmt(value))
    console.print(headline)
    if report.task == "classification":
        _render_classes(metrics, console)
    if report.latency:
        latency = Table(title="Latency")
        latency.add_column("measure")
        latency.add_column("ms", justify="right")
        for name, value in report.latency.items():
            latency.add_row(name, f"{value:.4f}")
        console.print(latency)


def _render_classes(metrics: dict[str, Any], console: Console) -> None:
    per_class = Table(title="Per class")
    for column in ("class", "precision", "recall", "f1", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for name, m in metrics["per_class"].items():
        per_class.add_row(
            escape(name), _fmt(m["precision"]), _fmt(m["recall"]), _fmt(m["f1"]), str(m["support"])
        )
    console.print(per_class)
    names = list(metrics["per_class"])
    if len(names) > MAX_CONFUSION_CLASSES:
        return
    confusion = Table(title="Confusion matrix (rows: true, columns: predicted)")
    confusion.add_column("true \\ pred")
    for name in names:
        confusion.add_column(escape(name), justify="right")
    for name, row in zip(names, metrics["confusion_matrix"], strict=True):
        confusion.add_row(escape(name), *(str(v) for v in row))
    console.print(confusion)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


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
