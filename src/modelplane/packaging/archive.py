"""A package as one .tar.gz, for the control plane's download route (`Client.package` unpacks it)."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

from modelplane.packaging.writer import build_package
from modelplane.store import Store


def package_archive(
    store: Store, name: str, *, image: str | None, min_replicas: int | None, max_replicas: int | None
) -> tuple[Path, Path]:
    """(the archive, the scratch directory holding it: the caller removes it once the archive is sent).
    In the system's temp folder: plaintext model files never sit in the store's own folders."""
    scratch = Path(tempfile.mkdtemp(prefix="modelplane-package-"))
    try:
        built = build_package(
            store,
            name,
            scratch / "package",
            image=image,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        )
        archive = scratch / f"{built.deployment}-package.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(built.directory, arcname=".")
        shutil.rmtree(built.directory)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return archive, scratch
