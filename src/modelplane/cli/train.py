"""`modelplane train`, `eval` and `export`: the verbs that make and judge model versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from modelplane.cli.context import platform
from modelplane.cli.jobs import announce_queued
from modelplane.cli.output import console, fail, notices, print_json
from modelplane.cli.progress import EpochBar
from modelplane.cli.reports import render_report
from modelplane.errors import Invalid


def _load_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        fail(f"config file {path} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise Invalid(f"{path} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        fail(f"{path} must hold a mapping with keys data, model, name, spec, train, split")
    return data


def _spec_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set hidden=[256,128] --set dropout=0.2` -> spec fields (values read as YAML)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--set {pair!r} is not KEY=VALUE (e.g. --set hidden=[256,128])")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def train(
    data: Annotated[str | None, typer.Option(help="Dataset NAME or NAME@VERSION")] = None,
    model: Annotated[
        str | None, typer.Option(help="mlp, cnn, lstm, gru, logreg, random_forest, svm, gbdt")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Registered model name (default DATA-MODEL)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Run config file (YAML/JSON)")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Resume an interrupted run from its last checkpoint")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the training split")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Samples per step")] = None,
    optimizer: Annotated[
        str | None, typer.Option(help="sgd, momentum, adagrad, rmsprop, adam, adamw")
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="L2 penalty")] = None,
    l1: Annotated[float | None, typer.Option(help="L1 penalty")] = None,
    lr_schedule: Annotated[str | None, typer.Option(help="none, step, cosine, plateau")] = None,
    early_stopping: Annotated[
        int | None, typer.Option(help="Stop after N epochs without improvement")
    ] = None,
    monitor: Annotated[
        str | None, typer.Option(help="Metric early stopping watches, e.g. val_accuracy")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for weights, shuffling and splits")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Data-parallel processes (torch DDP); --batch-size is split over them")
    ] = None,
    shard: Annotated[
        bool | None, typer.Option("--shard", help="Shard the parameters over the --workers (torch FSDP)")
    ] = None,
    augment_shift: Annotated[int | None, typer.Option(help="Image augmentation: max shift in pixels")] = None,
    augment_rotation: Annotated[
        float | None, typer.Option(help="Image augmentation: max rotation, degrees")
    ] = None,
    augment_noise: Annotated[float | None, typer.Option(help="Augmentation: gaussian noise std")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Model spec field KEY=VALUE (repeatable)")
    ] = None,
    impute: Annotated[
        str | None, typer.Option(help="Tables: fill missing numbers with the median, mean or constant")
    ] = None,
    fill_value: Annotated[
        float | None, typer.Option(help="Tables: the number --impute constant fills")
    ] = None,
    impute_categories: Annotated[
        str | None,
        typer.Option(help="Tables: a missing category is its own (constant) or the most_frequent one"),
    ] = None,
    missing_indicator: Annotated[
        bool | None,
        typer.Option(
            "--missing-indicator/--no-missing-indicator",
            help="Tables: add a 0/1 feature per column with missing values (default on)",
        ),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="Tables: categories as onehot (default) or ordinal features")
    ] = None,
    max_categories: Annotated[
        int | None, typer.Option(help="Tables: most frequent categories kept per column (the rest: unknown)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the finished run as JSON")] = False,
    background: Annotated[
        bool, typer.Option("--background", help="Queue the run as a job; print its id at once")
    ] = False,
) -> None:
    """Train a model on a dataset version and register the result as a new model version.

    On a table (CSV, Parquet) the preprocessing (imputation, category encoding, date parts) is fitted on the
    training split only and becomes part of the model: serving takes the raw named columns."""
    local = platform()
    if resume and background:
        announce_queued(local.jobs.resume(resume), as_json=as_json)
        return
    if resume:
        with EpochBar(f"resume {resume}", total=None, quiet=quiet or as_json) as bar:
            run = local.resume(resume, on_epoch=bar.epoch)
    else:
        run_config = _load_config(config) if config else {}
        for key, value in (("data", data), ("model", model), ("name", name)):
            if value is not None:
                run_config[key] = value
        train_fields: dict[str, Any] = {
            k: v
            for k, v in {
                "epochs": epochs,
                "batch_size": batch_size,
                "optimizer": optimizer,
                "lr": lr,
                "weight_decay": weight_decay,
                "l1": l1,
                "lr_schedule": lr_schedule,
                "early_stopping_patience": early_stopping,
                "monitor": monitor,
                "seed": seed,
                "device": device,
                "workers": workers,
                "shard": shard,
            }.items()
            if v is not None
        }
        augment = {
            k: v
            for k, v in {"shift": augment_shift, "rotation": augment_rotation, "noise": augment_noise}.items()
            if v is not None
        }
        if augment:
            train_fields["augment"] = {**(run_config.get("train", {}).get("augment") or {}), **augment}
        preprocess = {
            k: v
            for k, v in {
                "numeric_impute": impute,
                "numeric_fill": fill_value,
                "categorical_impute": impute_categories,
                "missing_indicator": missing_indicator,
                "encoding": encoding,
                "max_categories": max_categories,
            }.items()
            if v is not None
        }
        if preprocess:
            given = run_config.get("train", {}).get("preprocess") or {}
            train_fields["preprocess"] = {**given, **preprocess}
        run_config["train"] = {**run_config.get("train", {}), **train_fields}
        if seed is not None:
            run_config["split"] = {**run_config.get("split", {}), "seed": seed}
        run_config["spec"] = {**run_config.get("spec", {}), **_spec_overrides(set_ or [])}
        for required in ("data", "model"):
            if required not in run_config:
                fail(f"say which {required} to train: --{required} NAME (or put `{required}:` in --config)")
        if background:
            announce_queued(local.jobs.train(run_config), as_json=as_json)
            return
        with (
            notices(),
            EpochBar("train", total=run_config["train"].get("epochs"), quiet=quiet or as_json) as bar,
        ):
            run = local.train(run_config, on_epoch=bar.epoch)
    if as_json:
        print_json(run.to_dict())
        return
    test = run.metrics.get("test", {})
    shown = ", ".join(f"{k} {test[k]:.4f}" for k in ("accuracy", "f1_macro", "r2", "mse") if k in test)
    console.print(
        f"run [bold]{run.id}[/] {run.status}: registered [bold]{run.model_version}[/] "
        f"({shown}; {run.duration_s:.1f}s)"
    )


def evaluate(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ALIAS")],
    data: Annotated[str, typer.Option(help="Dataset NAME or NAME@VERSION")],
    split: Annotated[str, typer.Option(help="train, validation, test or all")] = "test",
    runtime: Annotated[str, typer.Option(help="onnx (as served) or native")] = "onnx",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Metrics report of a model version on a dataset split."""
    report = platform().evaluate(ref, data, split=split, runtime=runtime)
    if as_json:
        print_json(report.to_dict())
        return

    render_report(report, title=f"{ref} on {data} ({split})", console=console)


def export(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ALIAS")],
    fmt: Annotated[str, typer.Option("--format", help="onnx or torchscript")] = "onnx",
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder")] = Path("out"),
) -> None:
    """Write a model version as ONNX or TorchScript, with a JSON card of its inputs and outputs."""
    for path in platform().export(ref, fmt, out):
        console.print(f"wrote {path}")
