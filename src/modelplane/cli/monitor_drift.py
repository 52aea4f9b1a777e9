"""`modelplane monitor drift DEPLOYMENT`: drift of the logged window against each version's profile."""

from __future__ import annotations

from typing import Annotated

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, print_json, table


def _number(value: float | None, digits: int = 3) -> str:
    return (
        "-"
        if value is None
        else f"{value:.{digits}g}"
        if abs(value) < 1e-3 and value
        else f"{value:.{digits}f}"
    )


def drift(
    deployment: Annotated[str, typer.Argument(help="Deployment name")],
    window: Annotated[str, typer.Option(help="How far back from now: 15m, 1h, 1d, ...")] = "1h",
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON")] = False,
) -> None:
    """Per feature: the test (KS / chi-squared p-value for a reference of <= 1,000 rows, else Wasserstein
    over the reference std / Jensen-Shannon distance), its statistic, threshold and PSI; then prediction
    drift, data quality and the accuracy estimated from calibrated confidence. One report per version."""
    reports = platform().drift.compute(deployment, window=window)
    if as_json:
        print_json([r.model_dump(mode="json") for r in reports])
        return
    if not reports:
        console.print(f"no logged predictions for {deployment} in the last {window}", highlight=False)
        return
    for report in reports:
        title = f"{report.version}: {report.rows:,} rows in the last {window}"
        title += f", reference {report.reference_rows:,} rows"
        if report.note:
            console.print(f"{title}: {report.note}", highlight=False)
            continue
        rows = [
            (
                f.feature,
                f.test,
                _number(f.statistic),
                _number(f.p_value),
                _number(f.threshold),
                "DRIFT" if f.drifted else "",
                _number(f.psi),
            )
            for f in [*report.features, *([report.prediction] if report.prediction else [])]
        ]
        table(title, ["feature", "test", "statistic", "p-value", "threshold", "drifted", "psi"], rows)
        q = report.quality
        share = "-" if report.share_drifted is None else f"{report.share_drifted:.0%}"
        console.print(
            f"drifted features {share}; missing {_number(q.missing_rate)}, "
            f"out of range {_number(q.out_of_range_rate)}, unseen categories {_number(q.unseen_rate)}; "
            f"estimated accuracy {_number(report.estimated_accuracy)}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.command("drift")(drift)
