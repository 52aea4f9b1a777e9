"""`Client.package`: the server builds the package, this side unpacks the .tar.gz into the directory.

Extracted with tarfile's "data" filter (no links out, no absolute paths, no devices) beside the target and
renamed into place once every file hashes to what the manifest says, as `Local.package` leaves it."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

import httpx

from modelplane import errors
from modelplane.client.http import Http, error_from, quoted
from modelplane.packaging.manifest import PackageInfo, read_manifest, verify_files


def download_package(http: Http, deployment: str, out_dir: Path, params: dict[str, str | int]) -> PackageInfo:
    target = out_dir.expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise errors.Conflict(f"{target} already exists and is not empty; choose another -o DIR or remove it")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        archive = scratch / "package.tar.gz"
        try:
            path = f"/api/v1/deployments/{quoted(deployment)}/package"
            with http.client.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from(response)
                with archive.open("wb") as out:
                    for block in response.iter_bytes(1 << 20):
                        out.write(block)
        except httpx.TransportError as exc:
            raise errors.Unavailable(f"cannot reach modelplane at {http.url} ({exc})") from None
        unpacked = scratch / "package"
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(unpacked, filter="data")
        manifest = read_manifest(unpacked)
        verify_files(unpacked, manifest)
        if target.exists():
            target.rmdir()
        unpacked.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return PackageInfo.of(target, manifest)
