"""`modelplane package`: a deployment as a Docker build context with Kubernetes and KServe manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, print_json


def package(
    deployment: Annotated[str, typer.Argument(help="Deployment name", show_default=False)],
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Directory to write (must not exist, or be empty)")
    ],
    image: Annotated[
        str | None,
        typer.Option(help="Image the manifests run, NAME:TAG (default modelplane/DEPLOYMENT:GENERATION)"),
    ] = None,
    min_replicas: Annotated[
        int | None,
        typer.Option(help="Fewest pods the autoscalers keep (default: the deployment's own bounds, else 1)"),
    ] = None,
    max_replicas: Annotated[
        int | None,
        typer.Option(help="Most pods the autoscalers start (default: the deployment's own bounds, else 3)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON")] = False,
) -> None:
    """Write a deployment's versions (resolved now, in plaintext), a Dockerfile, and k8s/ manifests
    (Deployment, Service, HPA, KServe) into a directory that `modelplane serve --from DIR` serves."""
    info = platform().package(
        deployment, out, image=image, min_replicas=min_replicas, max_replicas=max_replicas
    )
    if as_json:
        print_json(info.to_dict())
        return
    console.print(
        f"packaged [bold]{info.deployment}[/] ({', '.join(info.versions)}; {info.files} files, "
        f"{info.bytes / 1e6:.1f} MB{', with torch' if info.needs_torch else ''}) into {info.directory}\n"
        f"  docker build -t {info.image} {info.directory}\n"
        f"  modelplane serve --from {info.directory}\n"
        f"  kubectl apply -f {info.directory / 'k8s'}"
    )
