"""`modelplane package DEPLOYMENT -o DIR`: a self-contained build context for one deployment.

Every version the deployment serves is resolved NOW (aliases followed) and written in plaintext (a file
sealed at rest is decrypted through the verified read, registry/integrity.py), with its registry record,
the deployment's spec pointing at those exact versions, and the sha256 of every file. The directory is
made beside its final path and renamed into place, so a failed packaging leaves nothing half-written."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import modelplane
from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.packaging import docker
from modelplane.packaging.kube import KubeOptions, write_manifests
from modelplane.packaging.manifest import (
    FORMAT_VERSION,
    PackagedFile,
    PackagedVersion,
    PackageInfo,
    PackageManifest,
    sha256_of,
    write_manifest,
)
from modelplane.registry.integrity import version_bytes
from modelplane.registry.registry import get_version
from modelplane.registry.tables import COLUMNS_FORMAT, PREP_FORMAT, trained_names
from modelplane.registry.views import ModelVersionInfo
from modelplane.runtimes.adapters import default_runtime
from modelplane.serving.deployments import DeploymentInfo, DeploymentSpec, get_deployment
from modelplane.serving.scaling import ScalingSpec
from modelplane.store import Store

_IMAGE = re.compile(
    r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?$"
)
_TORCH_RUNTIMES = {"torchscript"}


def check_image(image: str) -> str:
    if not _IMAGE.match(image):
        raise Invalid(
            f"--image {image!r} is not an image reference; write NAME:TAG, e.g. registry/team/model:1"
        )
    return image


def _exact(store: Store, deployment: DeploymentInfo) -> dict[str, ModelVersionInfo]:
    """ref as the spec writes it -> the version it names now; `NotFound` naming a ref that is gone. With a
    runtime named, the file it loads is made first (a TorchScript trace), so the package carries it."""
    found: dict[str, ModelVersionInfo] = {}
    for ref in deployment.spec.refs():
        try:
            info = get_version(store, ref)
        except NotFound as exc:
            raise NotFound(
                f"deployment '{deployment.name}' serves {ref}, which no longer exists ({exc}); deploy an "
                "existing version, then package it"
            ) from None
        if deployment.spec.runtime is not None:
            from modelplane.registry.loading import ready_for  # numpy and up

            info = ready_for(store, info, deployment.spec.runtime)
        found[ref] = info
    return found


def _exact_spec(spec: DeploymentSpec, versions: dict[str, ModelVersionInfo]) -> dict[str, Any]:
    """The spec with every ref replaced by the exact version it resolved to."""
    data = spec.model_dump(mode="json")
    if data.get("model"):
        data["model"] = versions[data["model"]].ref
    if data.get("canary"):
        data["canary"]["model"] = versions[data["canary"]["model"]].ref
    if data.get("shadow"):
        data["shadow"] = versions[data["shadow"]].ref
    if data.get("ensemble"):
        data["ensemble"]["members"] = [versions[m].ref for m in data["ensemble"]["members"]]
    return data


def _needs_torch(spec: DeploymentSpec, versions: list[ModelVersionInfo]) -> bool:
    for info in versions:
        runtime = spec.runtime or default_runtime(info.artifacts)
        if runtime in _TORCH_RUNTIMES or (runtime == "native" and info.framework == "torch"):
            return True
    return False


def _write_version(store: Store, info: ModelVersionInfo, root: Path) -> PackagedVersion:
    """Each of `info`'s files, verified and in plaintext, under versions/MODEL/VERSION/FORMAT; a version
    that reads named columns through its dataset carries their names as a `columns` file."""
    folder = Path("versions") / info.model / str(info.version)
    (root / folder).mkdir(parents=True, exist_ok=True)
    contents = {fmt: version_bytes(store, info, fmt) for fmt in sorted(info.artifacts)}
    if PREP_FORMAT not in contents and COLUMNS_FORMAT not in contents:
        names = trained_names(store, info)  # its dataset's column names: the package has no dataset
        if names:
            contents[COLUMNS_FORMAT] = json.dumps(names).encode()
    files: dict[str, PackagedFile] = {}
    for fmt, data in contents.items():
        relative = folder / fmt
        (root / relative).write_bytes(data)
        files[fmt] = PackagedFile(path=relative.as_posix(), sha256=sha256_of(root / relative), size=len(data))
    return PackagedVersion(
        model=info.model,
        version=info.version,
        task=info.task,
        framework=info.framework,
        kind=info.kind,
        spec=info.spec,
        params=info.params,
        metrics=info.metrics,
        classes=info.classes,
        onnx_note=info.onnx_note,
        dataset=info.dataset,
        files=files,
    )


def _target(out_dir: Path) -> Path:
    """`out_dir`, which may exist only as an empty directory (nothing of the user's is overwritten)."""
    target = out_dir.expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise Conflict(f"{target} already exists and is not empty; choose another -o DIR or remove it")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def pod_bounds(scaling: ScalingSpec, least: int | None, most: int | None) -> tuple[int, int]:
    """The pods the autoscalers keep, where the caller does not say: the deployment's own bounds (an
    autoscaled one's MIN:MAX, at least one pod; a fixed count, that many), else 1..3."""
    if scaling.autoscale is not None:
        default = (max(1, scaling.autoscale.min_replicas), scaling.autoscale.max_replicas)
    elif scaling.replicas > 1:
        default = (scaling.replicas, scaling.replicas)
    else:
        default = (1, 3)
    return (default[0] if least is None else least, default[1] if most is None else most)


def build_package(
    store: Store,
    name: str,
    out_dir: Path,
    *,
    image: str | None = None,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
) -> PackageInfo:
    """Write deployment `name` as a package into `out_dir` (see the module doc). The image defaults to
    `modelplane/NAME:GENERATION`: a redeploy changes the generation, so each package gets its own tag."""
    deployment = get_deployment(store, name)
    min_replicas, max_replicas = pod_bounds(deployment.spec.scaling, min_replicas, max_replicas)
    if not 1 <= min_replicas <= max_replicas:
        raise Invalid(
            f"replicas {min_replicas}..{max_replicas} are not a range; give 1 <= --min-replicas <= "
            "--max-replicas"
        )
    image = check_image(image or f"modelplane/{deployment.name}:{deployment.generation}")
    target = _target(Path(out_dir))
    exact = _exact(store, deployment)
    unique = list({info.ref: info for info in exact.values()}.values())
    needs_torch = _needs_torch(deployment.spec, unique)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        versions = [_write_version(store, info, scratch) for info in unique]
        manifest = PackageManifest(
            format_version=FORMAT_VERSION,
            deployment=deployment.name,
            spec=_exact_spec(deployment.spec, exact),
            spec_as_deployed=deployment.spec.model_dump(mode="json"),
            generation=deployment.generation,
            created_at=datetime.now(timezone.utc).isoformat(),
            modelplane_version=modelplane.__version__,
            image=image,
            needs_torch=needs_torch,
            versions=versions,
        )
        write_manifest(scratch, manifest)
        docker.copy_code(scratch)
        (scratch / "requirements.txt").write_text(
            "\n".join(docker.requirements(needs_torch=needs_torch)) + "\n"
        )
        (scratch / "Dockerfile").write_text(docker.dockerfile(needs_torch=needs_torch))
        (scratch / ".dockerignore").write_text(docker.DOCKERIGNORE)
        write_manifests(scratch, KubeOptions(deployment.name, image, min_replicas, max_replicas))
        scratch.chmod(0o755)
        if target.exists():
            target.rmdir()  # empty (checked above)
        scratch.rename(target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return PackageInfo.of(target, manifest)
