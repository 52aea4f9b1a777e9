"""`modelplane monitor run` and `monitor windows`: the monitor's figures per served version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, print_json, table

if TYPE_CHECKING:
    from modelplane.monitoring.windows import WindowInfo

_SHOWN = (
    ("requests", "requests", "{:.0f}"),
    ("error_rate", "errors", "{:.2%}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("drift", "drift", "{:.2f}"),
    ("prediction_drift", "pred drift", "{:.3f}"),
    ("estimated_accuracy", "est acc", "{:.3f}"),
    ("live_accuracy", "live acc", "{:.3f}"),
    ("test_accuracy", "test acc", "{:.3f}"),
    ("live_mae", "live mae", "{:.4g}"),
    ("labelled", "labelled", "{:.0f}"),
)


def _print(windows: list[WindowInfo], as_json: bool) -> None:
    if as_json:
        print_json([w.to_dict() for w in windows])
        return
    if not windows:
        console.print("no windows yet: the deployment logged no predictions in them")
        return
    shown = [(key, title, fmt) for key, title, fmt in _SHOWN if any(key in w.metrics for w in windows)]
    rows = [
        [
            w.window_end.strftime("%Y-%m-%d %H:%M:%S"),
            w.version,
            *[fmt.format(w.metrics[key]) if key in w.metrics else "-" for key, _, fmt in shown],
        ]
        for w in windows
    ]
    table(None, ["window end", "version", *[title for _, title, _ in shown]], rows)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        deployment: Annotated[str, typer.Argument(help="Deployment name")],
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    ) -> None:
        """Compute the deployment's monitor window now, store it and evaluate its alert rules (the monitor
        job does this every few minutes by itself)."""
        _print(platform().monitor.run(deployment), as_json)

    @app.command("windows")
    def windows(
        deployment: Annotated[str, typer.Argument(help="Deployment name")],
        limit: Annotated[int, typer.Option(help="Newest windows to show")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    ) -> None:
        """The stored monitor windows, newest first: traffic, drift, estimated / live / test accuracy."""
        _print(platform().monitor.windows(deployment, limit=limit), as_json)
