"""`modelplane runs ...`: what each training run took, did and produced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelplane.cli.confirm import YES_HELP, confirm
from modelplane.cli.context import platform
from modelplane.cli.output import console, key_values, print_json, table

if TYPE_CHECKING:
    from modelplane.training.run_views import RunInfo

app = typer.Typer(
    help="Training runs: parameters, per-epoch metrics, data version, duration.", no_args_is_help=True
)


@app.command("list")
def list_(
    model: Annotated[str | None, typer.Option(help="Only runs of this model")] = None,
    limit: Annotated[int, typer.Option(help="Newest N runs")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Recent runs, newest first."""
    runs = platform().runs.list(limit=limit, model=model)
    if as_json:
        print_json([r.to_dict() for r in runs])
        return
    table(
        "runs",
        ["run", "status", "model", "kind", "data", "epochs", "val loss", "version", "duration s", "started"],
        [
            (
                r.id,
                r.status,
                r.model_name or r.name,
                r.kind,
                r.dataset,
                len(r.history),
                r.history[-1].get("val_loss") if r.history else None,
                r.model_version,
                r.duration_s,
                r.started_at,
            )
            for r in runs
        ],
    )


def _tracked(run: RunInfo) -> list[tuple[str, object]]:
    """What a run your own code tracked adds: its name, experiment, params, tags, last metrics, files."""
    if run.kind != "tracked":
        return []
    return [
        ("name", run.name),
        ("experiment", run.experiment),
        *((f"param.{k}", v) for k, v in sorted(run.params.items())),
        *((f"tag.{k}", v) for k, v in sorted(run.tags.items()) if not k.startswith("mlflow.")),
        *((f"metric.{k}", v) for k, v in sorted(run.metrics.items())),
        *(("artifact", path) for path in run.artifacts),
    ]


def _steps(run: RunInfo) -> None:
    names = sorted({k for point in run.history for k in point if k != "step"})
    if names:
        table("steps", ["step", *names], [(int(p["step"]), *(p.get(n) for n in names)) for p in run.history])


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """One run: inputs, per-epoch metrics, result."""
    run = platform().runs.get(run_id)
    if as_json:
        print_json(run.to_dict())
        return
    key_values(
        f"run {run.id}",
        [
            ("status", run.status),
            ("model", run.model_name),
            ("registered", run.model_version),
            ("kind", run.kind),
            ("data", run.dataset),
            ("split", run.split),
            ("code version", run.code_version),
            ("started", run.started_at),
            ("duration s", run.duration_s),
            ("by", run.created_by),
            ("error", run.error),
            *((f"train.{k}", v) for k, v in run.config.items()),
            *_tracked(run),
        ],
    )
    if run.kind == "tracked":
        _steps(run)
    elif run.history:
        names = [k for k in run.history[0] if k != "epoch"]
        table(
            "epochs", ["epoch", *names], [(int(e["epoch"]), *(e.get(n) for n in names)) for e in run.history]
        )


@app.command("delete")
def delete(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix)")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help=YES_HELP)] = False,
) -> None:
    """Delete a run with its metrics and checkpoints (refused while a live version came from it or a job
    trains it)."""
    confirm(f"delete run {run_id} with its metrics and checkpoints?", yes)
    platform().runs.delete(run_id)
    console.print(f"deleted run {run_id}")
