"""`modelplane deploy`, `deployments ...`, `serve` and `predict`: getting models behind endpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli.backend import ServeBackendOption, check_serve_backend
from modelplane.cli.context import platform
from modelplane.cli.output import (
    console,
    err_console,
    fail,
    key_values,
    notices,
    print_json,
    server_logging,
    table,
)
from modelplane.errors import Invalid, ModelplaneError
from modelplane.runtimes.adapters import default_runtime

# What a deployment that names no runtime runs each version on.
DEFAULT_RUNTIME = "default (onnxruntime where the version has an ONNX graph, else native)"

if TYPE_CHECKING:
    from modelplane.client.served import Served
    from modelplane.serving.deployments import DeploymentSpec

deployments_app = typer.Typer(
    help="Deployments: what the data plane serves, under which name.", no_args_is_help=True
)


def _canary(text: str) -> dict[str, Any]:
    ref, sep, percent = text.rpartition(":")
    try:
        value = float(percent)
    except ValueError:
        value = -1.0
    if not sep or not ref or value <= 0:
        fail(f"--canary {text!r} is not REF:PERCENT (e.g. digits-cnn@5:10)")
    return {"model": ref, "percent": value}


def _ensemble_name(ref: str | None, name: str | None, ensemble: str) -> str:
    """An ensemble's deployment name: the argument (`deploy digits-ens --ensemble ...`) or --name, once."""
    if ref and "@" in ref:
        fail(
            f"with --ensemble the argument names the deployment, and {ref!r} is a model ref; list every "
            f"member in --ensemble: modelplane deploy NAME --ensemble {ensemble}"
        )
    if ref and name and ref != name:
        fail(f"the ensemble is named twice ({ref!r} and --name {name!r}); give its name once")
    chosen = ref or name
    if not chosen:
        raise Invalid(f"an ensemble needs a deployment name: modelplane deploy NAME --ensemble {ensemble}")
    return chosen


def _ensemble(members: str, combine: str | None, weights: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"members": [m.strip() for m in members.split(",") if m.strip()]}
    if combine is not None:
        spec["combine"] = combine
    if weights is not None:
        try:
            spec["weights"] = [float(w) for w in weights.split(",")]
        except ValueError:
            fail(f"--weights {weights!r} is not comma-separated numbers (e.g. 0.7,0.3)")
    return spec


def _monitoring(
    log_sample: float | None,
    retain: str | None,
    retain_size: str | None,
    window: str | None,
    every: str | None,
    thresholds: list[str],
) -> dict[str, Any]:
    """The monitoring settings the flags name (the rest keep MonitoringSpec's defaults)."""
    from modelplane.monitoring.log_query import parse_size
    from modelplane.monitoring.settings import parse_duration

    out: dict[str, Any] = {}
    if log_sample is not None:
        out["log_sample"] = log_sample
    if retain is not None:
        out["retain_days"] = parse_duration(retain, "--retain").total_seconds() / 86400
    if retain_size is not None:
        out["retain_bytes"] = parse_size(retain_size, "--retain-size")
    if window is not None:
        out["window_s"] = parse_duration(window, "--monitor-window").total_seconds()
    if every is not None:
        out["every_s"] = parse_duration(every, "--monitor-every").total_seconds()
    for text in thresholds:
        where, _, value = text.partition("=")
        feature, _, test = where.rpartition(":")
        try:
            number = float(value)
        except ValueError:
            fail(f"--drift-threshold {text!r}: write TEST=VALUE or FEATURE:TEST=VALUE, e.g. wasserstein=0.2")
        if feature:
            out.setdefault("feature_drift", {}).setdefault(feature, {})[test] = number
        else:
            out.setdefault("drift", {})[test] = number
    return out


def _scaling(
    replicas: int, autoscale: str | None, target: float, window: float, cooldown: float
) -> dict[str, Any]:
    """The `scaling` the flags name; its bounds are checked where every client's are (`ScalingSpec`)."""
    if autoscale is None:
        return {"replicas": replicas}
    low, sep, high = autoscale.partition(":")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        fail(f"--autoscale {autoscale!r} is not MIN:MAX (whole numbers, e.g. 1:4, or 0:2 to scale to zero)")
    return {
        "replicas": replicas,
        "autoscale": {
            "min_replicas": int(low),
            "max_replicas": int(high),
            "target_inflight": target,
            "window_s": window,
            "cooldown_s": cooldown,
        },
    }


def deploy(
    ref: Annotated[
        str | None,
        typer.Argument(
            help="NAME@VERSION or NAME@ALIAS to serve; with --ensemble, the deployment's name",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Deployment name (default: the model name; an ensemble's argument)")
    ] = None,
    canary: Annotated[
        str | None, typer.Option(help="REF:PERCENT of traffic to a candidate, e.g. m@5:10")
    ] = None,
    shadow: Annotated[
        str | None, typer.Option(help="REF that gets a copy of every request (answers unused)")
    ] = None,
    ensemble: Annotated[str | None, typer.Option(help="Comma-separated member refs, e.g. a@3,b@2")] = None,
    combine: Annotated[
        str | None, typer.Option(help="Ensemble rule: mean (the default), vote or weighted")
    ] = None,
    weights: Annotated[
        str | None, typer.Option(help="Ensemble weights for combine=weighted, e.g. 0.7,0.3")
    ] = None,
    max_batch_size: Annotated[int, typer.Option(help="Most rows merged into one runtime call")] = 64,
    max_queue_delay_ms: Annotated[
        float, typer.Option(help="How long a partial batch may wait for more")
    ] = 2.0,
    max_queue_size: Annotated[int, typer.Option(help="Queued requests before answering 503")] = 1024,
    timeout: Annotated[float, typer.Option(help="Per-request timeout in seconds (504 after)")] = 30.0,
    max_request_rows: Annotated[
        int,
        typer.Option(
            help="Most rows one request may carry (413 beyond); a larger one is computed in batches"
        ),
    ] = 16_384,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(
            help="Largest request body in bytes (413 beyond). Default: what max-request-rows need as JSON"
        ),
    ] = None,
    runtime: Annotated[
        str | None,
        typer.Option(
            help="What runs the model: onnxruntime (its ONNX graph), torchscript (a trace of a torch model, "
            "made once) or native (torch / scikit-learn itself). Default: onnxruntime where the version has "
            "an ONNX graph, else native"
        ),
    ] = None,
    log_sample: Annotated[
        float | None,
        typer.Option(help="Share of requests written to the prediction log, 0..1 (0: off). Default 1.0"),
    ] = None,
    retain: Annotated[
        str | None, typer.Option(help="Keep the prediction log this long, e.g. 30d (the default), 12h")
    ] = None,
    retain_size: Annotated[
        str | None, typer.Option(help="Cap the prediction log's size, e.g. 10GB (oldest deleted first)")
    ] = None,
    monitor_window: Annotated[
        str | None, typer.Option(help="The monitor job's window, e.g. 1h (the default), 15m, 1d")
    ] = None,
    monitor_every: Annotated[
        str | None, typer.Option(help="How often the monitor job runs, e.g. 5m (the default), 1h")
    ] = None,
    drift_threshold: Annotated[
        list[str] | None,
        typer.Option(
            help="A drift threshold instead of the default, for the deployment (TEST=VALUE) or one feature "
            "(FEATURE:TEST=VALUE); tests ks, chi2 (p-values), wasserstein, jensenshannon, psi (distances). "
            "Repeatable"
        ),
    ] = None,
    replicas: Annotated[
        int,
        typer.Option(
            help="Copies of the model, each in a replica process of its own (1: inside the server, the "
            "fastest path for one)"
        ),
    ] = 1,
    autoscale: Annotated[
        str | None,
        typer.Option(
            help="MIN:MAX replicas, following the requests in flight (MIN 0: scale to zero when idle; the "
            "first request then waits, within --timeout, for a replica to load)"
        ),
    ] = None,
    target_inflight: Annotated[
        float, typer.Option(help="With --autoscale: requests queued or computing per replica to aim for")
    ] = 4.0,
    scale_window: Annotated[
        float, typer.Option(help="With --autoscale: seconds a need must hold before scaling up")
    ] = 2.0,
    scale_cooldown: Annotated[
        float, typer.Option(help="With --autoscale: seconds without need before scaling down")
    ] = 30.0,
    rollout_check: Annotated[
        int,
        typer.Option(
            help="How many of a new version's first requests are watched for runtime errors (0: none)"
        ),
    ] = 100,
    rollout_max_errors: Annotated[
        float,
        typer.Option(
            help="Share of those requests that may fail before the new version is reverted to the previous"
        ),
    ] = 0.1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the deployment as JSON")] = False,
) -> None:
    """Serve a model version (or an ensemble) under a name; a running server loads it within a second."""
    spec: dict[str, Any] = {
        "batching": {
            "max_batch_size": max_batch_size,
            "max_queue_delay_ms": max_queue_delay_ms,
            "max_queue_size": max_queue_size,
            "timeout_s": timeout,
        },
        "limits": {"max_request_rows": max_request_rows, "max_body_bytes": max_body_bytes},
        "scaling": _scaling(replicas, autoscale, target_inflight, scale_window, scale_cooldown),
        "rollout": {"check_requests": rollout_check, "max_error_share": rollout_max_errors},
    }
    if runtime:
        spec["runtime"] = runtime
    if ensemble:
        name = _ensemble_name(ref, name, ensemble)
        spec["ensemble"] = _ensemble(ensemble, combine, weights)
    elif combine is not None or weights is not None:
        fail("--combine and --weights are rules of an ensemble: modelplane deploy NAME --ensemble A@1,B@2")
    elif ref:
        spec["model"] = ref
    else:
        fail("say what to deploy: modelplane deploy NAME@VERSION (or deploy NAME --ensemble A@1,B@2)")
    if canary:
        spec["canary"] = _canary(canary)
    if shadow:
        spec["shadow"] = shadow
    monitoring = _monitoring(
        log_sample, retain, retain_size, monitor_window, monitor_every, drift_threshold or []
    )
    if monitoring:
        spec["monitoring"] = monitoring
    info = platform().deploy(spec, name=name)
    if as_json:
        print_json(info.to_dict())
        return
    console.print(
        f"deployed [bold]{info.name}[/] (generation {info.generation}): "
        f"POST /v2/models/{info.name}/infer, POST /v1/predict/{info.name}"
    )


def _beside(spec: DeploymentSpec) -> str | None:
    """A deployment's canary (with its share) and shadow, where it has them."""
    parts = [f"{spec.canary.model} {spec.canary.percent:g}%"] if spec.canary else []
    parts += [f"shadow {spec.shadow}"] if spec.shadow else []
    return "; ".join(parts) or None


def _replicas(spec: DeploymentSpec) -> str:
    """A deployment's replicas as set: a count, or MIN..MAX when autoscaled."""
    auto = spec.scaling.autoscale
    return f"{auto.min_replicas}..{auto.max_replicas}" if auto else str(spec.scaling.replicas)


def _serves(spec: DeploymentSpec) -> str:
    """What a deployment answers with: its model, or its ensemble's rule and members."""
    if spec.ensemble is None:
        return str(spec.model)
    return f"ensemble({spec.ensemble.combine}): {', '.join(spec.ensemble.members)}"


def _served(server: str | None) -> dict[str, Served] | None:
    """What the server at `server` (default: the platform MODELPLANE_URL names) holds now; None when no
    server is named, or (with a note) when it cannot answer."""
    from modelplane.client.served import served

    server = server or os.environ.get("MODELPLANE_URL")
    if not server:
        return None
    try:
        return served(server, os.environ.get("MODELPLANE_API_KEY"))
    except ModelplaneError as exc:
        err_console.print(f"note: not showing what is loaded: {exc}", soft_wrap=True, highlight=False)
        return None


def _served_cells(held: dict[str, Served] | None, name: str) -> tuple[str | None, ...]:
    """The served and resident cells of `name` (none without a server; blank where it knows nothing)."""
    if held is None:
        return ()
    found = held.get(name)
    if found is None or found.resident_bytes is None:
        return (found.state if found else None, None)
    return found.state, f"{found.resident_bytes / 2**20:.1f} MiB"


@deployments_app.command("list")
def list_(
    server: Annotated[
        str | None,
        typer.Option(
            help="Also show what this data plane (e.g. `modelplane serve`) holds: loaded or unloaded, and "
            "resident size. Default: the server MODELPLANE_URL names, if any"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every deployment and what it points at; with a server, whether it is loaded there and its size."""
    items = platform().deployments.list()
    held = _served(server)
    if as_json:
        print_json(
            [
                {**d.to_dict(), **({"served": held[d.name].to_dict()} if held and d.name in held else {})}
                for d in items
            ]
        )
        return
    # With a server's view the last-updated time (in show and --json) makes room for it at 80 columns.
    columns = ["name", "serves", "canary / shadow", "runtime", "replicas"]
    columns += ["updated"] if held is None else ["served", "resident"]
    table(
        "deployments",
        columns,
        [
            (
                d.name,
                _serves(d.spec),
                _beside(d.spec),
                d.spec.runtime or "default",
                _replicas(d.spec),
                *((d.updated_at,) if held is None else _served_cells(held, d.name)),
            )
            for d in items
        ],
    )


@deployments_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Deployment name")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """One deployment in full, with the versions its refs resolve to now."""
    local = platform()
    info = local.deployments.get(name)
    if as_json:
        print_json(info.to_dict())
        return
    versions = [(ref, local.models.version(ref)) for ref in info.spec.refs()]
    key_values(
        f"deployment {info.name}",
        [
            *(
                (ref, f"version {v.version} on {info.spec.runtime or default_runtime(v.artifacts)}")
                for ref, v in versions
            ),
            ("runtime", info.spec.runtime or DEFAULT_RUNTIME),
            ("batching", info.spec.batching.model_dump()),
            ("scaling", info.spec.scaling.model_dump(exclude_none=True)),
            ("rollout", info.spec.rollout.model_dump()),
            ("generation", info.generation),
            ("created", info.created_at),
            ("by", info.created_by),
            ("updated", info.updated_at),
        ],
    )


@deployments_app.command("undeploy")
def undeploy(name: Annotated[str, typer.Argument(help="Deployment name")]) -> None:
    """Stop serving a deployment (running servers drain it and unload it)."""
    platform().deployments.undeploy(name)
    console.print(f"undeployed {name}")


MemoryBudgetOption = Annotated[
    str | None,
    typer.Option(
        help="Most memory the loaded deployments may hold, e.g. 2GiB or 512MB (measured per deployment): "
        "past it the least recently used idle deployment is unloaded, and loaded again by its next request"
    ),
]


def budget_bytes(text: str | None) -> int | None:
    """--memory-budget as bytes (None: no budget); a bad size exits 2 naming the fix."""
    from modelplane.monitoring.log_query import parse_size

    return None if text is None else parse_size(text, "--memory-budget")


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="REST port (KServe V2 + /v1/predict + /metrics)")] = 8000,
    grpc_port: Annotated[
        int, typer.Option(help="gRPC port (KServe V2); 0 picks a free one, -1 disables")
    ] = 8001,
    poll: Annotated[
        float, typer.Option(help="Seconds between checks of the store for deployment changes")
    ] = 1.0,
    from_package: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Serve a package (`modelplane package`) instead of the store: its files are verified, then "
            "served from a store of its own",
        ),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(help="With --from: where the package's store and prediction log live (default: temp)"),
    ] = None,
    serve_backend: ServeBackendOption = "local",
    memory_budget: MemoryBudgetOption = None,
) -> None:
    """Run the data plane alone: every stored deployment, reloaded at start, hot-swapped on change."""
    from modelplane.serving import loop
    from modelplane.serving.server import DataPlane, ServeOptions
    from modelplane.store import Store

    if home is not None and from_package is None:
        fail("--home is where a package's store lives; use it with --from DIR (else set MODELPLANE_HOME)")
    budget = budget_bytes(memory_budget)
    server_logging()
    check_serve_backend(serve_backend)
    options = ServeOptions(
        host=host,
        port=port,
        grpc_port=None if grpc_port < 0 else grpc_port,
        poll_interval_s=poll,
        serve_backend=serve_backend,
        memory_budget_bytes=budget,
    )
    if from_package is None:
        plane = DataPlane(Store.from_settings(), options)  # the data plane runs here, on this machine's store
        loop.run(plane.run())  # logs the REST and gRPC addresses once both listen
        return
    import tempfile

    from modelplane.packaging.restore import open_package

    with tempfile.TemporaryDirectory(prefix="modelplane-package-") as scratch:
        opened = open_package(from_package, home or Path(scratch) / "home")
        try:
            loop.run(DataPlane(opened.store, options).run())
        finally:
            opened.store.close()


def predict(
    deployment: Annotated[str, typer.Argument(help="Deployment name")],
    input_path: Annotated[Path, typer.Option("--input", help="Rows to predict: .csv, .parquet or .npz")],
    limit: Annotated[int, typer.Option(help="Rows shown in the table")] = 50,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse columns the model does not read instead of ignoring them")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Predict rows of a file through a deployment (in-process, same runtimes as the server).

    Columns are matched by name to those the model reads, in any order; others (the target, notes) are
    ignored with a note on stderr. Labels are class names, in the table and in --json."""
    local = platform()
    with notices():
        outputs = local.predict(deployment, input_path, strict=strict)
    if as_json:
        print_json({k: v.tolist() for k, v in outputs.items()})
        return
    if "label" in outputs:
        version = local.models.version(local.deployments.get(deployment).spec.refs()[0])
        classes = version.classes or [str(i) for i in range(outputs["probabilities"].shape[1])]
        column = {name: i for i, name in enumerate(classes)}  # label is a class name; probabilities follow
        table(
            f"predictions of {deployment}",
            ["row", "label", "probability"],
            [
                (i, str(label), float(outputs["probabilities"][i, column[str(label)]]))
                for i, label in enumerate(outputs["label"][:limit])
            ],
        )
    else:
        table(
            f"predictions of {deployment}",
            ["row", "prediction"],
            [(i, ", ".join(f"{v:.4g}" for v in row)) for i, row in enumerate(outputs["prediction"][:limit])],
        )
