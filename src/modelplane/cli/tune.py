"""`modelplane tune`: search hyper-parameters and architectures, register the best trial; `show`, `list`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from modelplane.cli.confirm import YES_HELP, confirm
from modelplane.cli.context import platform
from modelplane.cli.output import cell, console, fail, key_values, print_json, table
from modelplane.cli.progress import TrialBar
from modelplane.errors import Invalid

app = typer.Typer(
    help="Hyper-parameter and architecture search (Optuna); the best trial becomes one model version.",
    invoke_without_command=True,
    no_args_is_help=True,
)


def _load_space(path: Path) -> dict[str, Any]:
    if not path.is_file():
        fail(f"space file {path} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise Invalid(f"{path} is not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Invalid(
            f"{path} must hold a mapping of hyper-parameter -> distribution, "
            "e.g. `lr: {low: 1.0e-4, high: 1.0e-1, log: true}`"
        )
    return data


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={cell(v)}" for k, v in params.items()) or "-"


@app.callback()
def tune(
    ctx: typer.Context,
    data: Annotated[str | None, typer.Option(help="Dataset NAME or NAME@VERSION")] = None,
    model: Annotated[
        str | None, typer.Option(help="mlp, cnn, lstm, gru, logreg, random_forest, svm, gbdt")
    ] = None,
    trials: Annotated[int | None, typer.Option(help="Trial budget (finished trials, across resumes)")] = None,
    timeout: Annotated[str | None, typer.Option(help="Time budget of this session: 90s, 10m, 1h")] = None,
    parallel: Annotated[int | None, typer.Option(help="Trials at once, one worker process each")] = None,
    space: Annotated[Path | None, typer.Option(help="Search space YAML (default: the model's own)")] = None,
    metric: Annotated[str | None, typer.Option(help="accuracy, f1 | mse, mae, r2 (validation split)")] = None,
    sampler: Annotated[str | None, typer.Option(help="tpe or random")] = None,
    pruner: Annotated[str | None, typer.Option(help="median, hyperband or none")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs per trial (torch models)")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the sampler, the weights and the split")] = None,
    name: Annotated[str | None, typer.Option(help="Study name (default DATA-MODEL-N)")] = None,
    model_name: Annotated[
        str | None, typer.Option(help="Registered model for the best trial (default DATA-MODEL)")
    ] = None,
    resume: Annotated[str | None, typer.Option(help="Continue an interrupted study to its budget")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the finished study as JSON")] = False,
) -> None:
    """Search a model's hyper-parameters (and architecture, with --space); register the best trial."""
    if ctx.invoked_subcommand is not None:
        return
    from modelplane.tuning.studies import StudyInterrupted

    local = platform()
    session: dict[str, Any] = {
        k: v for k, v in (("parallel", parallel), ("timeout", timeout)) if v is not None
    }
    search: dict[str, Any] = {
        "data": data,
        "model": model,
        "trials": trials,
        "metric": metric,
        "sampler": sampler,
        "pruner": pruner,
        "seed": seed,
        "name": name,
        "model_name": model_name,
        "space": space,
        "epochs": epochs,
    }
    given = {k: v for k, v in search.items() if v is not None}
    try:
        if resume:
            if given:
                flags = ", ".join(f"--{k.replace('_', '-')}" for k in given)
                fail(f"--resume continues {resume} with its stored settings; drop {flags}")
            with TrialBar(f"tune {resume}", total=None, quiet=quiet or as_json) as bar:
                study = local.tune(resume=resume, on_trial=bar.trial, **session)
        else:
            for required in ("data", "model"):
                if required not in given:
                    fail(f"say which {required} to tune: --{required} NAME")
            if space is not None:
                given["space"] = _load_space(space)
            if epochs is not None:
                given["train"] = {"epochs": given.pop("epochs")}
            if seed is not None:
                given["split"] = {"seed": seed}
            with TrialBar("tune", total=trials, quiet=quiet or as_json) as bar:
                study = local.tune(on_trial=bar.trial, **given, **session)
    except StudyInterrupted as exc:
        fail(str(exc), 130)
    if as_json:
        print_json(study.to_dict())
        return
    states = ", ".join(f"{n} {s}" for s, n in study.states.items())
    console.print(
        f"study [bold]{study.name}[/]: {study.trials_done} trials ({states}); best {study.metric} "
        f"{study.best_value:.4f} (trial {study.best_trial}) registered as [bold]{study.model_version}[/]"
    )


@app.command("show")
def show(
    study: Annotated[str, typer.Argument(help="Study name")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """One study: settings, every trial, the best parameters and the parameter importances."""
    info = platform().studies.get(study)
    if as_json:
        print_json(info.to_dict())
        return
    budget = " and ".join(
        x
        for x in (
            f"{info.trials_budget} trials" if info.trials_budget else "",
            f"{info.timeout_s:g}s per session" if info.timeout_s else "",
        )
        if x
    )
    key_values(
        f"study {info.name}",
        [
            ("model", f"{info.model} on {info.data} -> {info.model_name}"),
            ("objective", f"{info.direction} validation {info.metric}"),
            ("search", f"{info.sampler} sampler, {info.pruner} pruner"),
            ("budget", budget),
            ("trials", f"{info.trials_done} done: " + ", ".join(f"{n} {s}" for s, n in info.states.items())),
            (
                "best",
                f"trial {info.best_trial}: {cell(info.best_value)}" if info.best_trial is not None else None,
            ),
            ("registered", info.model_version),
            ("created", f"{info.created_at} by {info.created_by or '-'}"),
        ],
    )
    table(
        "trials",
        ["trial", "state", info.metric, "epochs", "params", "run"],
        [(t.number, t.state, t.value, t.epochs, _params(t.params), t.run_id) for t in info.trials],
    )
    if info.best_params:
        key_values("best params", list(info.best_params.items()))
    if info.importances:
        table(
            "parameter importance",
            ["param", "importance"],
            sorted(info.importances.items(), key=lambda kv: -kv[1]),
        )
    else:
        console.print(f"parameter importance: {info.importance_note}")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Every study: model, data, objective, trials done, best value and the version it registered."""
    studies = platform().studies.list()
    if as_json:
        print_json([s.to_dict() for s in studies])
        return
    table(
        "studies",
        ["study", "model", "data", "metric", "trials", "best", "registered", "created"],
        [
            (
                s.name,
                s.model,
                s.data,
                s.metric,
                f"{s.trials_done}/{s.trials_budget}" if s.trials_budget else s.trials_done,
                s.best_value,
                s.model_version,
                s.created_at,
            )
            for s in studies
        ],
    )


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Study name")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help=YES_HELP)] = False,
) -> None:
    """Delete a study and its trials' checkpoints (refused while it is searched; its trial runs and the
    version it registered stay)."""
    confirm(f"delete study {name} and its trials' checkpoints?", yes)
    platform().studies.delete(name)
    console.print(f"deleted study {name}")
