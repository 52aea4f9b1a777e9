"""`--backend` of `up` and `worker`: where their jobs run, checked before anything starts."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from modelplane.cli.output import fail

BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="Where jobs run: embedded (processes on this machine) or ray (the cluster at "
        "MODELPLANE_RAY_ADDRESS, else the head `ray start --head` left on this machine)",
    ),
]

ServeBackendOption = Annotated[
    str,
    typer.Option(
        "--serve-backend",
        help="Where deployments' models run: local (in this process, or replica processes here) or ray "
        "(Ray Serve on the cluster at MODELPLANE_RAY_ADDRESS, else the head `ray start --head` left here)",
    ),
]


def check_serve_backend(serve_backend: str) -> None:
    """`--serve-backend`: an unknown name, or ray with no head answering, ends the command here (exit 2)
    before anything is stored or started."""
    from modelplane.config import get_settings
    from modelplane.errors import Invalid
    from modelplane.serving.backends import serve_backend as checked

    try:
        checked(serve_backend, get_settings())
    except Invalid as exc:
        fail(str(exc), exc.exit_code)


def use_backend(backend: str | None) -> str | None:
    """Apply `--backend` to this process and the jobs it starts; returns the Ray address, if any. A cluster
    that does not answer ends the command here (exit 2), before a job is taken."""
    from modelplane.cluster.connect import check_backend
    from modelplane.config import get_settings
    from modelplane.errors import Invalid

    if backend is not None:
        if backend not in ("embedded", "ray"):
            fail(f"--backend must be embedded or ray, got {backend!r}")
        os.environ["MODELPLANE_BACKEND"] = backend
        if backend == "embedded":
            os.environ.pop("MODELPLANE_RAY_ADDRESS", None)
        get_settings.cache_clear()
    settings = get_settings()
    if backend == "ray" and not settings.ray_address and not _head_runs_here():
        _start_own_head()
        settings = get_settings()
    try:
        return check_backend(settings)
    except Invalid as exc:
        fail(str(exc), exc.exit_code)


def _head_runs_here() -> bool:
    from modelplane.cluster.connect import ClusterUnreachable, check_reachable

    try:
        check_reachable("auto")
    except ClusterUnreachable:
        return False
    return True


def _start_own_head() -> None:
    """`--backend ray` on a machine with no cluster: a head of this command's own, on the loopback address
    with this machine's cores, stopped when the command ends."""
    import atexit
    from contextlib import ExitStack

    from modelplane.cli.output import err_console
    from modelplane.cluster.local_head import local_head
    from modelplane.config import get_settings
    from modelplane.cores import usable_cores

    stack = ExitStack()
    address = stack.enter_context(local_head(cpus=usable_cores()))
    atexit.register(stack.close)
    os.environ["MODELPLANE_RAY_ADDRESS"] = address
    get_settings.cache_clear()
    err_console.print(f"started a Ray head of its own at {address} (it stops with this command)")
