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
    try:
        return check_backend(get_settings())
    except Invalid as exc:
        fail(str(exc), exc.exit_code)
