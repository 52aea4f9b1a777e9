"""`modelplane compress` and `compare`: smaller versions of a model, and versions side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from modelplane.cli.context import platform
from modelplane.cli.output import console, fail, print_json
from modelplane.cli.progress import EpochBar
from modelplane.cli.reports import render_comparison
from modelplane.errors import Invalid

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def _student(value: str) -> str | dict[str, Any]:
    """`mlp:64,32` as is; a spec file is read here, so the platform (maybe a server) gets its fields."""
    path = Path(value)
    if path.suffix not in _SPEC_SUFFIXES and not path.is_file():
        return value
    if not path.is_file():
        fail(f"student spec file {path} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise Invalid(f"{path} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        fail(f"{path} must hold a mapping of spec fields, e.g. kind: mlp and hidden: [64, 32]")
    return data


def compress(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ALIAS to compress")],
    quantize: Annotated[str | None, typer.Option(help="Quantise to this type: int8")] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="dynamic (default; no data needed), static (calibrated on training rows) or weights "
            "(int8 weights, float compute: a smaller file, the same speed or faster)"
        ),
    ] = None,
    calibration_rows: Annotated[
        int | None, typer.Option(help="Training rows that calibrate static quantisation (default 512)")
    ] = None,
    per_channel: Annotated[
        bool | None, typer.Option("--per-channel", help="One int8 scale per output channel")
    ] = None,
    prune: Annotated[float | None, typer.Option(help="Fraction of weights to remove, in (0, 1)")] = None,
    structured: Annotated[
        bool | None,
        typer.Option("--structured", help="Remove whole neurons/channels (smaller, faster layers)"),
    ] = None,
    finetune_epochs: Annotated[
        int | None, typer.Option(help="Epochs of fine-tuning after pruning (default 3)")
    ] = None,
    distill: Annotated[
        str | None, typer.Option(help="Student: KIND[:SIZES] (e.g. mlp:64,32) or a spec file (YAML/JSON)")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs to train the student (default 10)")] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Softening of the teacher's outputs (default 4)")
    ] = None,
    alpha: Annotated[
        float | None, typer.Option(help="Weight of the teacher against the labels, 0..1 (default 0.7)")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="Dataset NAME or NAME@VERSION (default: the one the model was trained on)"),
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate for fine-tuning / the student")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Samples per step when training")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new version and report as JSON")] = False,
) -> None:
    """Make a smaller version of a model (int8, pruned or distilled) and compare it with its source."""
    train = {k: v for k, v in {"lr": lr, "batch_size": batch_size}.items() if v is not None}
    options = {
        "quantize": quantize,
        "mode": mode,
        "calibration_rows": calibration_rows,
        "per_channel": per_channel,
        "prune": prune,
        "structured": structured,
        "finetune_epochs": finetune_epochs,
        "distill": _student(distill) if distill is not None else None,
        "epochs": epochs,
        "temperature": temperature,
        "alpha": alpha,
        "data": data,
    }
    request: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    if train:
        request["train"] = train
    with EpochBar(f"compress {ref}", total=epochs or finetune_epochs, quiet=quiet or as_json) as bar:
        result = platform().compress(ref, request, on_epoch=bar.epoch)
    if as_json:
        print_json(result.to_dict())
        return

    version = result.version
    console.print(f"registered [bold]{version.ref}[/] ({result.report.versions[-1].method} of {ref})")
    render_comparison(result.report, console=console)


def compare(
    refs: Annotated[list[str], typer.Argument(help="Versions to compare; the first is the baseline")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Size, parameters, latency per sample (batch 1 and 64) and test metrics, side by side."""
    comparison = platform().compare(refs)
    if as_json:
        print_json(comparison.to_dict())
        return

    render_comparison(comparison, console=console)
