"""`modelplane models ...`: the registry — versions, metrics, lineage and aliases."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, key_values, print_json, table

app = typer.Typer(
    help="Registered models: versions, lineage, aliases (promote and roll back).", no_args_is_help=True
)


def headline(metrics: dict[str, Any]) -> str:
    """The one number people compare: test accuracy for classifiers, test R² / MSE for regressors."""
    test = metrics.get("test", {})
    for key in ("accuracy", "r2", "mse"):
        if key in test:
            return f"{key} {test[key]:.4f}"
    return "-"


def imported_from(params: dict[str, Any]) -> str | None:
    """The lineage of an imported version: its format, file and the file's sha256."""
    imported = params.get("imported")
    if not isinstance(imported, dict):
        return None
    return (
        f"imported {imported.get('format')} {imported.get('file')} sha256 {str(imported.get('sha256'))[:12]}"
    )


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Every model with its latest version and aliases."""
    models = platform().models.list()
    if as_json:
        print_json([m.to_dict() for m in models])
        return
    table(
        "models",
        ["name", "task", "versions", "latest", "kind", "test metric", "aliases"],
        [
            (
                m.name,
                m.task,
                len(m.versions),
                m.latest.version if m.latest else None,
                m.latest.kind if m.latest else None,
                headline(m.latest.metrics) if m.latest else None,
                ", ".join(f"{a}→{v}" for a, v in m.aliases.items()),
            )
            for m in models
        ],
    )


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Versions with metrics and lineage; with @VERSION, that version in full."""
    local = platform()
    if "@" in ref:
        version = local.models.version(ref)
        if as_json:
            print_json(version.to_dict())
            return
        key_values(
            version.ref,
            [
                ("task", version.task),
                ("framework", version.framework),
                ("kind", version.kind),
                ("input shape", version.input_shape),
                ("classes", version.classes),
                ("aliases", version.aliases),
                ("trained on", version.dataset),
                ("imported", imported_from(version.params)),
                ("run", version.run_id),
                ("parent", version.parent),
                ("code version", version.code_version),
                ("weights", version.weights_sha[:12]),
                ("onnx", version.onnx_sha[:12] if version.onnx_sha else version.onnx_note),
                ("created", version.created_at),
                ("by", version.created_by),
                *(
                    (f"test {k}", v)
                    for k, v in version.metrics.get("test", {}).items()
                    if isinstance(v, (int, float))
                ),
            ],
        )
        return
    model = local.models.get(ref)
    if as_json:
        print_json(model.to_dict())
        return
    table(
        f"model {model.name} ({model.task})",
        ["version", "kind", "test metric", "data", "run", "parent", "aliases", "created", "by"],
        [
            (
                v.version,
                v.kind,
                headline(v.metrics),
                v.dataset,
                v.run_id or imported_from(v.params),
                v.parent,
                v.aliases,
                v.created_at,
                v.created_by,
            )
            for v in model.versions
        ],
    )
    if model.alias_history:
        table(
            "alias history",
            ["alias", "from", "to", "at", "by"],
            [(m.alias, m.from_version, m.to_version, m.at, m.by) for m in model.alias_history],
        )


@app.command("alias")
def alias(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION the alias will point at")],
    name: Annotated[str, typer.Argument(help="Alias, e.g. production or staging")],
) -> None:
    """Point an alias at a version (moving it back is the rollback)."""
    version = platform().models.alias(ref, name)
    console.print(f"{version.model}@{name} → version {version.version}")


@app.command("unalias")
def unalias(
    model: Annotated[str, typer.Argument(help="Model name")],
    name: Annotated[str, typer.Argument(help="Alias to remove")],
) -> None:
    """Remove an alias."""
    platform().models.unalias(model, name)
    console.print(f"removed alias {model}@{name}")


@app.command("delete")
def delete(ref: Annotated[str, typer.Argument(help="NAME@VERSION")]) -> None:
    """Retire a version (refused while an alias points at it)."""
    platform().models.delete(ref)
    console.print(f"deleted {ref}")


@app.command("import")
def import_(
    name: Annotated[str, typer.Argument(help="Model name; the import becomes its next version")],
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="An ONNX, skops or TorchScript file, a folder with model.safetensors + spec.json (a "
            "modelplane spec), or an MLflow model folder (onnx flavour, or sklearn saved with skops)",
        ),
    ],
    task: Annotated[
        str | None, typer.Option(help="classification or regression (default: what the file says)")
    ] = None,
    classes: Annotated[
        str | None, typer.Option(help="The classifier's labels in output order, comma-separated: a,b,c")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            help="A parquet file of reference rows: checked on, and stored with the version for drift"
        ),
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Dataset NAME@VERSION to evaluate on (with --evaluate)")
    ] = None,
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="Score the model on the test split of --data")
    ] = False,
    trust: Annotated[
        list[str] | None,
        typer.Option("--trust", help="A type in a skops file to trust beyond scikit-learn's (repeat it)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Register a model trained elsewhere as a new version; it is run once before it is stored."""
    version = platform().models.import_model(
        name,
        source,
        task=task,
        classes=tuple(c.strip() for c in classes.split(",")) if classes else None,
        reference=reference,
        data=data,
        evaluate=evaluate,
        trust=tuple(trust or ()),
    )
    if as_json:
        print_json(version.to_dict())
        return
    imported = version.params.get("imported", {})
    rows: list[tuple[str, Any]] = [
        ("task", version.task),
        ("framework", version.framework),
        ("kind", version.kind),
        ("input shape", version.input_shape),
        ("classes", version.classes),
        ("imported", imported_from(version.params)),
        ("checked on", imported.get("verified_on")),
        *(
            (f"test {k}", v)
            for k, v in version.metrics.get("test", {}).items()
            if isinstance(v, (int, float))
        ),
    ]
    if imported.get("trusted_types"):
        rows.append(("trusted types", ", ".join(imported["trusted_types"])))
    rows.extend(("note", note) for note in imported.get("notes", []))
    key_values(f"imported {version.ref}", rows)
