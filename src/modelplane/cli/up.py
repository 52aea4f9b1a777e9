"""`modelplane up`: the platform in one process; `--demo` first trains and deploys digits-cnn if needed."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli.backend import BackendOption, ServeBackendOption, check_serve_backend, use_backend
from modelplane.cli.output import console, err_console, fail, server_logging
from modelplane.cli.serving import MemoryBudgetOption, budget_bytes
from modelplane.serving import loop

if TYPE_CHECKING:
    from modelplane.local import Local

DEMO_MODEL = "digits-cnn"
# `make run` exports this (epoch seconds) before it installs anything, so the demo can say how long a
# fresh machine took to answer its first prediction.
T0_VARIABLE = "MODELPLANE_DEMO_T0"


def _prepare_demo() -> list[float]:
    """Ingest digits, train and promote a CNN, deploy it — unless a deployment of it already exists.
    Returns one digits row for the curl line."""
    from modelplane.cli.progress import EpochBar
    from modelplane.local import Local

    local = Local()
    try:
        local.datasets.add("digits", source="builtin:digits")
        _sign_older_demo_versions(local)
        if not any(d.name == DEMO_MODEL for d in local.deployments.list()):
            if not any(m.name == DEMO_MODEL and m.versions for m in local.models.list()):
                console.print("[bold]demo:[/] training digits-cnn (a few seconds)")
                with EpochBar("train", total=8, quiet=False) as bar:
                    run = local.train(data="digits", model="cnn", train={"epochs": 8}, on_epoch=bar.epoch)
                console.print(
                    f"demo: {run.model_version} test accuracy {run.metrics['test']['accuracy']:.3f}"
                )
            latest = local.models.get(DEMO_MODEL).latest
            assert latest is not None  # trained above, or found with versions
            local.models.alias(latest.ref, "production")
            local.deploy({"model": f"{DEMO_MODEL}@production"})
        from sklearn.datasets import load_digits

        return [float(v) for v in load_digits().data[0]]
    finally:
        local.close()


def _sign_older_demo_versions(local: Local) -> None:
    """A demo home from before versions were signed would serve nothing (an unsigned version is refused):
    sign the demo model's versions whose files still check out, as `modelplane keys sign-unsigned` does."""
    from modelplane.registry.integrity import sign_unsigned

    done = sign_unsigned(local.store, by="modelplane up --demo", model=DEMO_MODEL)
    if done.signed:
        console.print(f"demo: signed {', '.join(done.signed)}, registered before versions were signed")
    for ref, why in done.refused.items():
        err_console.print(f"[yellow]demo: {ref} stays unsigned and will not load:[/] {why}")


def _curl(url: str, key: str | None, row: list[float]) -> str:
    """A line to paste into a shell. The header is in double quotes: `key` may be `$MODELPLANE_API_KEY`,
    which the shell must expand (a raw key holds only [A-Za-z0-9_-], safe inside them too)."""
    auth = f'-H "Authorization: Bearer {key}" ' if key else ""
    body = json.dumps({"instances": [[int(v) for v in row]]}, separators=(",", ":"))
    return f"curl -s {auth}-X POST {url}/v1/predict/{DEMO_MODEL} -d '{body}'"


def _first_prediction(url: str, key: str | None, row: list[float], started: float) -> None:
    """Ask the demo model once the server answers, and say how long it took from `make run`."""
    import httpx  # here: every other command would pay for importing it

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(
                f"{url}/v1/predict/{DEMO_MODEL}", json={"instances": [row]}, headers=headers, timeout=5
            )
            if answer.status_code == 200:
                label = answer.json()["predictions"][0]["label"]
                since = time.time() - started
                console.print(f"demo: first prediction (digit {label}) answered {since:.1f} s after start")
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    err_console.print("demo: the first prediction did not succeed within 120 s; see the log above")


def up(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="HTTP port: /api/v1, /docs, KServe V2, /v1/predict, /metrics")
    ] = 8000,
    grpc_port: Annotated[
        int, typer.Option(help="gRPC port (KServe V2); 0 picks a free one, -1 disables")
    ] = 8001,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="No API keys: anyone who reaches the port may do anything")
    ] = False,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate chain: serve HTTPS and gRPC+TLS")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Train and deploy digits-cnn first if it is not deployed")
    ] = False,
    poll: Annotated[
        float,
        typer.Option(
            help="Seconds between checks of the store for deployment changes (one row read; other "
            "servers on the same database pick up a change within this plus the model's load time)"
        ),
    ] = 0.25,
    workers: Annotated[
        int | None, typer.Option(help="Jobs run at once (training, batch, tuning); default one per core")
    ] = None,
    public_docs: Annotated[
        bool,
        typer.Option(
            "--public-docs",
            help="Serve /docs and /openapi.json without an API key (by default they need one)",
        ),
    ] = False,
    backend: BackendOption = None,
    serve_backend: ServeBackendOption = "local",
    memory_budget: MemoryBudgetOption = None,
) -> None:
    """Run the platform: control plane, data plane, metrics and keys in one process."""
    from modelplane.api.platform import PlatformOptions, PlatformServer
    from modelplane.config import get_settings
    from modelplane.serving.server import ServeOptions

    budget = budget_bytes(memory_budget)
    server_logging()
    started = float(os.environ.get(T0_VARIABLE) or time.time())
    ray_address = use_backend(backend)
    check_serve_backend(serve_backend)
    serve = ServeOptions(
        host=host,
        port=port,
        grpc_port=None if grpc_port < 0 else grpc_port,
        poll_interval_s=poll,
        tls_cert=tls_cert,
        tls_key=tls_key,
        serve_backend=serve_backend,
        memory_budget_bytes=budget,
    )
    if workers is not None and workers < 1:
        fail(f"--workers must be at least 1, got {workers}")
    server = PlatformServer(
        get_settings(), serve, PlatformOptions(auth=not no_auth, job_workers=workers, public_docs=public_docs)
    )
    _banner(server)
    if ray_address is not None:
        console.print(f"jobs run on the Ray cluster at {ray_address}", soft_wrap=True, highlight=False)
    row = _prepare_demo() if demo else None
    if row is not None:
        key = server.admin_key or ("$MODELPLANE_API_KEY" if server.options.auth else None)
        console.print(f"try:\n  {_curl(server.url, key, row)}", soft_wrap=True, highlight=False)
    if row is not None and tls_cert is None:
        threading.Thread(
            target=_first_prediction, args=(server.url, server.admin_key, row, started), daemon=True
        ).start()
    _finish_shutdown_on_signals(server)
    loop.run(server.run())


def _finish_shutdown_on_signals(server: Any) -> None:
    """Let a SIGTERM (or Ctrl-C) shut `up` down to the end: jobs queued again, usage flushed.

    uvicorn stops serving on the signal and then raises it again for its default action, which for
    SIGTERM ends the process at once: before the running jobs are queued again to resume and before the
    last second of metered usage reaches the store (another server sharing the database would then
    report less usage than was served). Once serving began, that second delivery lands here and is let
    pass; before it, the signal ends startup as it always did."""

    def handle(signum: int, _frame: object) -> None:
        if not server.plane.started.is_set():
            raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)


def _banner(server: Any) -> None:
    """Printed before the demo trains, so `make run`'s first lines name the console and its key."""
    url = server.url
    keyed = server.options.auth and not server.options.public_docs
    docs = f"{url}/docs" + (" with a key; --public-docs opens it" if keyed else "")
    console.print(f"[bold]console[/]: {url}/  (sign in with an API key)", soft_wrap=True)
    console.print(f"[bold]modelplane[/] at {url}  (API docs {docs}, metrics {url}/metrics)", soft_wrap=True)
    if server.admin_key:
        console.print(
            f"admin key (shown once, store it now): [bold]{server.admin_key}[/]\n"
            f"  export MODELPLANE_URL={url} MODELPLANE_API_KEY={server.admin_key}",
            soft_wrap=True,
        )
    elif server.options.auth:
        console.print(
            "auth is on; use your API key (lost it? `modelplane keys create --role admin --name me` "
            "on this machine, without MODELPLANE_URL, makes a new one)",
            soft_wrap=True,
        )
