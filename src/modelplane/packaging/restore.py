"""`modelplane serve --from DIR`: a package served without the store it came from.

The package's files are checked against its manifest first; then its versions are registered, under
their own numbers, in a store of their own (a home made for the package, or `--home`), and the deployment
is saved there under its name and spec. The normal data plane serves that store, so a package answers
exactly as the original server did: same runtimes, batching, limits, canary split, labels. The home also
holds what serving writes (the prediction log). No master key is used there: the package is plaintext
already, and the image has no key to give."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from modelplane.config import Settings
from modelplane.errors import Conflict
from modelplane.packaging.manifest import MANIFEST, PackageManifest, read_manifest, verify_files
from modelplane.registry.restore import RestoredVersion, restore_version
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.serving.scaling import ScalingSpec
from modelplane.store import Store

MARKER = "from-package.json"  # in a home made from a package: which one (its manifest's sha256)


@dataclass(frozen=True)
class OpenedPackage:
    store: Store
    manifest: PackageManifest
    home: Path


def package_settings(home: Path) -> Settings:
    """Settings of a home of its own: every path under `home`, no master key (whatever the environment
    says), its own signing key."""
    return Settings(
        home=home,
        database_url=None,
        artifact_root=None,
        master_key=None,
        master_key_file=None,
        signing_key_file=None,
    )


def _claim(home: Path, digest: str) -> bool:
    """Whether `home` already holds this package (True) or is empty and now claimed for it (False)."""
    marker = home / MARKER
    if marker.is_file():
        recorded = json.loads(marker.read_text()).get("manifest_sha256")
        if recorded != digest:
            raise Conflict(
                f"{home} was made from another package; serve this one with an empty --home (or none)"
            )
        return True
    if home.exists() and any(home.iterdir()):
        raise Conflict(
            f"{home} is not empty and was not made from a package; --home must be an empty directory "
            "(the package's own store is made there)"
        )
    home.mkdir(parents=True, exist_ok=True)
    return False


def open_package(directory: Path, home: Path) -> OpenedPackage:
    """Verify the package in `directory`, and its store in `home` (made on first use, reused after)."""
    directory = directory.expanduser().resolve()
    manifest = read_manifest(directory)
    verify_files(directory, manifest)
    digest = hashlib.sha256((directory / MANIFEST).read_bytes()).hexdigest()
    ready = _claim(home, digest)
    store = Store.from_settings(package_settings(home))
    if not ready:
        try:
            for version in manifest.versions:
                restore_version(
                    store,
                    RestoredVersion(
                        model=version.model,
                        version=version.version,
                        task=version.task,
                        framework=version.framework,
                        kind=version.kind,
                        spec=version.spec,
                        params=version.params,
                        metrics=version.metrics,
                        classes=version.classes,
                        onnx_note=version.onnx_note,
                        files={fmt: directory / found.path for fmt, found in version.files.items()},
                    ),
                    by="package",
                )
            # A pod is a replica: the HPA (or KServe) scales pods within the deployment's bounds, so
            # inside one the model runs in the server process, without replica processes of its own.
            spec = parse_spec(manifest.spec).model_copy(update={"scaling": ScalingSpec()})
            save_deployment(store, spec, name=manifest.deployment, by="package")
        except BaseException:
            store.close()
            raise
        (home / MARKER).write_text(json.dumps({"manifest_sha256": digest, "package": str(directory)}) + "\n")
    return OpenedPackage(store, manifest, home)
