"""Datasets (with chunked uploads), runs, models and studies on a server."""

from __future__ import annotations

import builtins
import hashlib
import mmap
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane import errors
from modelplane.client.http import CHUNK_BYTES, UPLOAD_WORKERS, Area, parse, quoted
from modelplane.platform import OnRows, RunHandle

if TYPE_CHECKING:
    from modelplane.data.catalog import DatasetSummary, DatasetVersionInfo
    from modelplane.data.ingest import IngestResult
    from modelplane.registry.views import ModelInfo, ModelVersionInfo
    from modelplane.training.run_views import RunInfo
    from modelplane.tuning.views import StudyInfo


class Datasets(Area):
    def add(
        self,
        name: str,
        *,
        source: str,
        target: str | None = None,
        task: str | None = None,
        append: bool = False,
        drop_na: bool = False,
        drop_columns: tuple[str, ...] = (),
        categorical: tuple[str, ...] = (),
        numeric: tuple[str, ...] = (),
        boolean: tuple[str, ...] = (),
        datetime: tuple[str, ...] = (),
        ids: tuple[str, ...] = (),
        chunk_rows: int = 65_536,
        image_size: tuple[int, int] | None = None,
        image_mode: str | None = None,
        on_rows: OnRows | None = None,
        since: str | None = None,
    ) -> IngestResult:
        """`source` is builtin:NAME, feedback:DEPLOYMENT (the server's prediction log and feedback) or a
        local file/folder (uploaded first; an IDX labels file too)."""
        from modelplane.data.catalog import DatasetVersionInfo
        from modelplane.data.ingest import IngestResult

        if not source.startswith(("builtin:", "feedback:")):
            path = Path(source)
            if not path.exists():
                raise errors.NotFound(f"no such file or folder: '{source}'; check the path")
            if target is None and path.is_file():
                from modelplane.data.formats.idx import labels_path

                sibling = labels_path(path, None)  # an IDX images file's labels travel with it
                target = str(sibling) if sibling is not None else None
            if target is not None and Path(target).is_file():
                target = self.upload(Path(target))
            source = self.upload(path)
        body = {
            "name": name,
            "source": source,
            "target": target,
            "task": task,
            "append": append,
            "drop_na": drop_na,
            "drop_columns": list(drop_columns),
            "categorical": list(categorical),
            "numeric": list(numeric),
            "boolean": list(boolean),
            "datetime": list(datetime),
            "ids": list(ids),
            "chunk_rows": chunk_rows,
            "image_size": image_size,
            "image_mode": image_mode,
            "since": since,
        }
        found = self._http.json("POST", "/api/v1/datasets", json=body)
        if on_rows is not None:
            on_rows(found["version"]["num_rows"])
        version = parse(DatasetVersionInfo, found["version"])
        return IngestResult(version, found["created"], list(found.get("notices", [])))

    def upload(self, path: Path, *, chunk_bytes: int = CHUNK_BYTES) -> str:
        """Upload a file (a folder goes as a zip) in checked chunks; returns its `upload:ID` source.
        Calling it again for the same file resumes: only the chunks the server lacks are sent. The whole
        file's sha256 is declared first; then UPLOAD_WORKERS chunks travel at once, each read and hashed
        by its sender (so hashing overlaps the transfer, and memory holds a few chunks, never the file)."""
        with _as_file(path) as file:
            size, whole = _sha256(file)
            declared = {"filename": file.name, "size": size, "sha256": whole, "chunk_size": chunk_bytes}
            upload = self._http.json("POST", "/api/v1/uploads", json=declared)
            step = int(upload["chunk_size"])  # a resumed upload keeps the chunk size it was declared with
            url = f"/api/v1/uploads/{upload['id']}"

            def send(index: int) -> None:
                with file.open("rb") as fh:
                    chunk = os.pread(fh.fileno(), step, index * step)
                digest = hashlib.sha256(chunk).hexdigest()
                self._http.call(
                    "PUT", f"{url}/chunks/{index}", content=chunk, headers={"x-chunk-sha256": digest}
                )

            with ThreadPoolExecutor(UPLOAD_WORKERS) as pool:
                sending = [pool.submit(send, index) for index in upload["missing"]]
                try:
                    for future in sending:
                        future.result()
                except BaseException:
                    for future in sending:  # the first failure is the answer; send nothing more
                        future.cancel()
                    raise
            return str(self._http.json("POST", f"{url}/complete")["source"])

    def list(self) -> builtins.list[DatasetSummary]:
        from modelplane.data.catalog import DatasetSummary

        return [parse(DatasetSummary, item) for item in self._http.items("/api/v1/datasets")]

    def get(self, ref: str) -> DatasetVersionInfo:
        from modelplane.data.catalog import DatasetVersionInfo

        return parse(DatasetVersionInfo, self._http.json("GET", f"/api/v1/datasets/{quoted(ref)}"))

    def versions(self, name: str) -> builtins.list[DatasetVersionInfo]:
        from modelplane.data.catalog import DatasetVersionInfo

        items = self._http.items(f"/api/v1/datasets/{quoted(name)}/versions")
        return [parse(DatasetVersionInfo, item) for item in items]

    def delete(self, ref: str) -> builtins.list[str]:
        return [str(r) for r in self._http.json("DELETE", f"/api/v1/datasets/{quoted(ref)}")["deleted"]]


def _sha256(file: Path) -> tuple[int, str]:
    """Size and sha256 of `file`, hashed from a map of it (no copy through Python, the GIL let go)."""
    digest = hashlib.sha256()
    with file.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                digest.update(mapped)
    return size, digest.hexdigest()


@contextmanager
def _as_file(path: Path) -> Iterator[Path]:
    """A file as it is; a folder (images, one sub-folder per class) zipped into a temp file."""
    if path.is_file():
        yield path
        return
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / f"{path.name}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
            for member in sorted(path.rglob("*")):
                if member.is_file():
                    zf.write(member, member.relative_to(path))
        yield archive


class Runs(Area):
    def list(self, *, limit: int = 50, model: str | None = None) -> builtins.list[RunInfo]:
        from modelplane.training.run_views import RunInfo

        params: dict[str, Any] = {"limit": limit}
        if model:
            params["model"] = model
        page = self._http.json("GET", "/api/v1/runs", params=params)
        return [parse(RunInfo, item) for item in page["items"]]

    def get(self, run_id: str) -> RunInfo:
        from modelplane.training.run_views import RunInfo

        return parse(RunInfo, self._http.json("GET", f"/api/v1/runs/{quoted(run_id)}"))

    def delete(self, run_id: str) -> None:
        self._http.call("DELETE", f"/api/v1/runs/{quoted(run_id)}")

    def start(
        self,
        name: str | None = None,
        *,
        experiment: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> RunHandle:
        from modelplane.client.tracking import ClientRun

        body: dict[str, Any] = {
            "name": name,
            "experiment": experiment,
            "params": dict(params or {}),
            "tags": dict(tags or {}),
        }
        return ClientRun(self._http, self._http.json("POST", "/api/v1/runs/tracked", json=body)["id"])


class Models(Area):
    def list(self) -> builtins.list[ModelInfo]:
        from modelplane.registry.views import ModelInfo

        return [parse(ModelInfo, item) for item in self._http.items("/api/v1/models")]

    def get(self, name: str) -> ModelInfo:
        from modelplane.registry.views import ModelInfo

        return parse(ModelInfo, self._http.json("GET", f"/api/v1/models/{quoted(name)}"))

    def version(self, ref: str) -> ModelVersionInfo:
        from modelplane.registry.views import ModelVersionInfo

        return parse(ModelVersionInfo, self._http.json("GET", f"/api/v1/versions/{quoted(ref)}"))

    def alias(self, ref: str, alias: str) -> ModelVersionInfo:
        from modelplane.registry.views import ModelVersionInfo

        name = ref.partition("@")[0]
        path = f"/api/v1/models/{quoted(name)}/aliases/{quoted(alias)}"
        return parse(ModelVersionInfo, self._http.json("PUT", path, json={"version": ref}))

    def unalias(self, name: str, alias: str) -> None:
        self._http.call("DELETE", f"/api/v1/models/{quoted(name)}/aliases/{quoted(alias)}")

    def delete(self, ref: str, *, force: bool = False) -> None:
        if "@" in ref:
            self._http.call("DELETE", f"/api/v1/versions/{quoted(ref)}")
        else:
            self._http.call("DELETE", f"/api/v1/models/{quoted(ref)}", params={"force": force})

    def retain(self, name: str, *, keep_last: int | None, keep_aliased: bool = False) -> builtins.list[str]:
        path = f"/api/v1/models/{quoted(name)}/retention"
        if keep_last is None:
            found = self._http.json("DELETE", path)
        else:
            found = self._http.json("PUT", path, json={"keep_last": keep_last, "keep_aliased": keep_aliased})
        return [str(r) for r in found["retired"]]

    def import_model(
        self,
        name: str,
        source: str | Path,
        *,
        task: str | None = None,
        classes: tuple[str, ...] | None = None,
        reference: str | Path | None = None,
        data: str | None = None,
        evaluate: bool = False,
        trust: tuple[str, ...] = (),
    ) -> ModelVersionInfo:
        """Upload the model file (a folder goes zipped) and the reference rows in checked chunks, then
        import them on the server."""
        from modelplane.registry.views import ModelVersionInfo

        uploads = Datasets(self._http)
        path = Path(source)
        if not path.exists():
            raise errors.NotFound(f"no such file or folder: '{source}'; check the path")
        if reference is not None and not Path(reference).is_file():
            raise errors.Invalid(f"reference file {reference} does not exist; give a parquet file of rows")
        body = {
            "name": name,
            "source": uploads.upload(path),
            "task": task,
            "classes": list(classes) if classes is not None else None,
            "reference": uploads.upload(Path(reference)) if reference is not None else None,
            "data": data,
            "evaluate": evaluate,
            "trust": list(trust),
        }
        return parse(ModelVersionInfo, self._http.json("POST", "/api/v1/models/import", json=body))


class Studies(Area):
    def list(self) -> builtins.list[StudyInfo]:
        from modelplane.tuning.views import StudyInfo

        return [parse(StudyInfo, item) for item in self._http.items("/api/v1/studies")]

    def get(self, name: str) -> StudyInfo:
        from modelplane.tuning.views import StudyInfo

        return parse(StudyInfo, self._http.json("GET", f"/api/v1/studies/{quoted(name)}"))

    def delete(self, name: str) -> None:
        self._http.call("DELETE", f"/api/v1/studies/{quoted(name)}")
