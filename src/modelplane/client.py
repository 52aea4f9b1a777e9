"""The Python SDK: `Client(url, api_key)` has the surface of `modelplane.Local`, over HTTP.

Answers come back as the same view classes the library returns (rebuilt from JSON), and failures as the
same typed errors (`modelplane.errors`), so the CLI runs one code path against either. Local files given
as dataset sources are uploaded in verified, resumable chunks.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import numpy as np
from pydantic import TypeAdapter

from modelplane import errors
from modelplane.compression.views import Comparison, CompressResult
from modelplane.data.catalog import DatasetSummary, DatasetVersionInfo
from modelplane.data.ingest import IngestResult
from modelplane.evaluation.views import EvaluationReport
from modelplane.jobs.views import JobInfo, LogLine
from modelplane.registry.views import ModelInfo, ModelVersionInfo
from modelplane.retrain.views import FiringInfo, RetrainPolicyInfo
from modelplane.security.audit import AuditRecord, Head, Verification
from modelplane.security.keys import KeyInfo, NewKey
from modelplane.security.metering import UsageRow
from modelplane.serving.deployments import DeploymentInfo
from modelplane.training.run_views import RunInfo
from modelplane.tuning.views import StudyInfo

T = TypeVar("T")
CHUNK_BYTES = 8 << 20
_FINISHED = ("succeeded", "failed", "interrupted", "pruned", "stopped")
_ERRORS: dict[int, type[errors.ModelplaneError]] = {
    400: errors.Invalid,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    422: errors.Invalid,
    504: errors.DeadlineExceeded,
}


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def parse(cls: type[T], data: Any) -> T:
    """A view class rebuilt from its `to_dict()` JSON (datetimes and nested views included)."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    found: T = adapter.validate_python(data)
    return found


def _error(response: httpx.Response) -> errors.ModelplaneError:
    try:
        message = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}: {response.text[:200]}"
    retry_after = float(response.headers.get("retry-after") or 1)
    if response.status_code == 429:
        return errors.QuotaExceeded(message, retry_after)
    if response.status_code == 503:
        return errors.Unavailable(message, retry_after)
    return _ERRORS.get(response.status_code, errors.ModelplaneError)(message)


class _Http:
    def __init__(self, url: str, api_key: str | None, timeout: float, verify: bool | str) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, verify=verify)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise errors.Unavailable(
                f"cannot reach modelplane at {self.url} ({exc}); is `modelplane up` running there?"
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()

    def items(self, path: str, **params: Any) -> list[Any]:
        """Every item of a paginated list."""
        out: list[Any] = []
        while True:
            page = self.json("GET", path, params={**params, "offset": len(out), "limit": 1000})
            out += page["items"]
            if len(out) >= page["total"] or not page["items"]:
                return out


def _ref(ref: str) -> str:
    return quote(ref, safe="")


class _Area:
    def __init__(self, http: _Http) -> None:
        self._http = http


class Datasets(_Area):
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
        chunk_rows: int = 65_536,
        image_size: tuple[int, int] | None = None,
        image_mode: str | None = None,
        on_rows: Callable[[int], None] | None = None,
    ) -> IngestResult:
        """`source` is builtin:NAME or a local file/folder (uploaded first; an IDX labels file too)."""
        if not source.startswith("builtin:"):
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
            "chunk_rows": chunk_rows,
            "image_size": image_size,
            "image_mode": image_mode,
        }
        found = self._http.json("POST", "/api/v1/datasets", json=body)
        if on_rows is not None:
            on_rows(found["version"]["num_rows"])
        return IngestResult(parse(DatasetVersionInfo, found["version"]), found["created"])

    def upload(self, path: Path, *, chunk_bytes: int = CHUNK_BYTES) -> str:
        """Upload a file (a folder goes as a zip) in checked chunks; returns its `upload:ID` source.
        Calling it again for the same file resumes: only the chunks the server lacks are sent."""
        with _as_file(path) as file:
            size = file.stat().st_size
            digest = hashlib.sha256()
            with file.open("rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
            declared = {
                "filename": file.name,
                "size": size,
                "sha256": digest.hexdigest(),
                "chunk_size": chunk_bytes,
            }
            upload = self._http.json("POST", "/api/v1/uploads", json=declared)
            with file.open("rb") as fh:
                for index in upload["missing"]:
                    fh.seek(index * upload["chunk_size"])
                    chunk = fh.read(upload["chunk_size"])
                    self._http.call(
                        "PUT",
                        f"/api/v1/uploads/{upload['id']}/chunks/{index}",
                        content=chunk,
                        headers={"x-chunk-sha256": hashlib.sha256(chunk).hexdigest()},
                    )
            return str(self._http.json("POST", f"/api/v1/uploads/{upload['id']}/complete")["source"])

    def list(self) -> list[DatasetSummary]:
        return [parse(DatasetSummary, item) for item in self._http.items("/api/v1/datasets")]

    def get(self, ref: str) -> DatasetVersionInfo:
        return parse(DatasetVersionInfo, self._http.json("GET", f"/api/v1/datasets/{_ref(ref)}"))

    def versions(self, name: str) -> builtins.list[DatasetVersionInfo]:
        items = self._http.items(f"/api/v1/datasets/{_ref(name)}/versions")
        return [parse(DatasetVersionInfo, item) for item in items]


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


class Runs(_Area):
    def list(self, *, limit: int = 50, model: str | None = None) -> list[RunInfo]:
        params: dict[str, Any] = {"limit": limit}
        if model:
            params["model"] = model
        page = self._http.json("GET", "/api/v1/runs", params=params)
        return [parse(RunInfo, item) for item in page["items"]]

    def get(self, run_id: str) -> RunInfo:
        return parse(RunInfo, self._http.json("GET", f"/api/v1/runs/{_ref(run_id)}"))


class Models(_Area):
    def list(self) -> list[ModelInfo]:
        return [parse(ModelInfo, item) for item in self._http.items("/api/v1/models")]

    def get(self, name: str) -> ModelInfo:
        return parse(ModelInfo, self._http.json("GET", f"/api/v1/models/{_ref(name)}"))

    def version(self, ref: str) -> ModelVersionInfo:
        return parse(ModelVersionInfo, self._http.json("GET", f"/api/v1/versions/{_ref(ref)}"))

    def alias(self, ref: str, alias: str) -> ModelVersionInfo:
        name = ref.partition("@")[0]
        path = f"/api/v1/models/{_ref(name)}/aliases/{_ref(alias)}"
        return parse(ModelVersionInfo, self._http.json("PUT", path, json={"version": ref}))

    def unalias(self, name: str, alias: str) -> None:
        self._http.call("DELETE", f"/api/v1/models/{_ref(name)}/aliases/{_ref(alias)}")

    def delete(self, ref: str) -> None:
        self._http.call("DELETE", f"/api/v1/versions/{_ref(ref)}")


class Deployments(_Area):
    def list(self) -> list[DeploymentInfo]:
        return [parse(DeploymentInfo, item) for item in self._http.items("/api/v1/deployments")]

    def get(self, name: str) -> DeploymentInfo:
        return parse(DeploymentInfo, self._http.json("GET", f"/api/v1/deployments/{_ref(name)}"))

    def undeploy(self, name: str) -> None:
        self._http.call("DELETE", f"/api/v1/deployments/{_ref(name)}")


class Keys(_Area):
    def create(
        self,
        *,
        role: str,
        name: str,
        deployments: tuple[str, ...] | builtins.list[str] = (),
        rate: str | None = None,
        quota: str | None = None,
    ) -> NewKey:
        body = {"role": role, "name": name, "deployments": list(deployments), "rate": rate, "quota": quota}
        found = self._http.json("POST", "/api/v1/keys", json=body)
        return NewKey(found["key"], parse(KeyInfo, found["info"]))

    def list(self, *, include_revoked: bool = True) -> builtins.list[KeyInfo]:
        items = self._http.items("/api/v1/keys", include_revoked=include_revoked)
        return [parse(KeyInfo, item) for item in items]

    def revoke(self, key_id: str) -> KeyInfo:
        return parse(KeyInfo, self._http.json("DELETE", f"/api/v1/keys/{_ref(key_id)}"))


class UsageReports(_Area):
    def report(
        self, since: date | str, until: date | str | None = None, *, key: str | None = None
    ) -> list[UsageRow]:
        params = {
            "since": str(since),
            **({"until": str(until)} if until else {}),
            **({"key": key} if key else {}),
        }
        return [parse(UsageRow, item) for item in self._http.items("/api/v1/usage", **params)]


class AuditLog(_Area):
    def log(self, *, limit: int = 50) -> list[AuditRecord]:
        return [
            parse(AuditRecord, item)
            for item in self._http.json("GET", "/api/v1/audit", params={"limit": limit})
        ]

    def verify(self) -> Verification:
        return parse(Verification, self._http.json("GET", "/api/v1/audit/verify"))

    def head(self) -> Head:
        return parse(Head, self._http.json("GET", "/api/v1/audit/head"))


class Jobs(_Area):
    """Background jobs on the server (training, batch prediction); ids may be a unique prefix."""

    def list(self, *, limit: int = 50, state: str | None = None, kind: str | None = None) -> list[JobInfo]:
        params: dict[str, Any] = {"limit": limit, **({"state": state} if state else {})}
        params.update({"kind": kind} if kind else {})
        return [
            parse(JobInfo, item) for item in self._http.json("GET", "/api/v1/jobs", params=params)["items"]
        ]

    def get(self, job_id: str) -> JobInfo:
        return parse(JobInfo, self._http.json("GET", f"/api/v1/jobs/{_ref(job_id)}"))

    def _log(self, job_id: str, after: int, limit: int) -> tuple[JobInfo, builtins.list[LogLine]]:
        found = self._http.json(
            "GET", f"/api/v1/jobs/{_ref(job_id)}/logs", params={"after": after, "limit": limit}
        )
        return parse(JobInfo, found["job"]), [parse(LogLine, line) for line in found["lines"]]

    def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> builtins.list[LogLine]:
        return self._log(job_id, after, limit)[1]

    def follow(self, job_id: str, *, poll_s: float = 0.5) -> Iterator[LogLine]:
        """Log lines as they are written, until the job ends."""
        after = 0
        while True:
            job, lines = self._log(job_id, after, 1000)
            yield from lines
            after = lines[-1].seq if lines else after
            if job.finished and not lines:
                return
            if not lines:
                time.sleep(poll_s)

    def cancel(self, job_id: str) -> JobInfo:
        return parse(JobInfo, self._http.json("POST", f"/api/v1/jobs/{_ref(job_id)}/cancel"))

    def wait(self, job_id: str, *, on_update: Callable[[JobInfo], None] | None = None) -> JobInfo:
        from modelplane.jobs.follow import wait_for

        return wait_for(lambda: self.get(job_id), on_update=on_update)

    def train(self, config: Mapping[str, Any] | None = None, **fields: Any) -> JobInfo:
        """Queue a training run on the server (checked now); returns the job."""
        found = self._http.json("POST", "/api/v1/runs", json={**(config or {}), **fields})
        return self.get(found["job_id"])

    def resume(self, run_id: str) -> JobInfo:
        return self.get(self._http.json("POST", f"/api/v1/runs/{_ref(run_id)}/resume")["job_id"])

    def download(self, job_id: str, path: str | Path, *, overwrite: bool = False) -> Path:
        """Fetch a finished batch job's output into `path` (through a temp file and a rename)."""
        from modelplane.jobs.batch.paths import check_output, temp_output

        target = Path(path).expanduser().resolve()
        check_output(target, overwrite=overwrite)
        temp = temp_output(target, job_id)
        try:
            with self._http.client.stream("GET", f"/api/v1/jobs/{_ref(job_id)}/output") as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                with temp.open("wb") as out:
                    for block in response.iter_bytes(1 << 20):
                        out.write(block)
            os.replace(temp, target)
        except httpx.TransportError as exc:
            raise errors.Unavailable(f"cannot reach modelplane at {self._http.url} ({exc})") from None
        finally:
            temp.unlink(missing_ok=True)
        return target


class RetrainPolicies(_Area):
    """Continuous training on the server: one policy per model; the server's watcher fires them."""

    def set(
        self,
        model: str,
        *,
        data: str,
        on: str = "new-data",
        gate: str | None = None,
        canary: str | None = None,
        replay: float = 0.2,
        epochs: int = 3,
        lr: float | None = None,
        enabled: bool = True,
    ) -> RetrainPolicyInfo:
        body = {
            "data": data,
            "on": on,
            "gate": gate,
            "canary": canary,
            "replay": replay,
            "epochs": epochs,
            "lr": lr,
            "enabled": enabled,
        }
        found = self._http.json("PUT", f"/api/v1/retrain-policies/{_ref(model)}", json=body)
        return parse(RetrainPolicyInfo, found)

    def list(self) -> list[RetrainPolicyInfo]:
        return [parse(RetrainPolicyInfo, item) for item in self._http.items("/api/v1/retrain-policies")]

    def get(self, model: str) -> RetrainPolicyInfo:
        return parse(RetrainPolicyInfo, self._http.json("GET", f"/api/v1/retrain-policies/{_ref(model)}"))

    def delete(self, model: str) -> None:
        self._http.call("DELETE", f"/api/v1/retrain-policies/{_ref(model)}")


class Studies(_Area):
    def list(self) -> list[StudyInfo]:
        return [parse(StudyInfo, item) for item in self._http.items("/api/v1/studies")]

    def get(self, name: str) -> StudyInfo:
        return parse(StudyInfo, self._http.json("GET", f"/api/v1/studies/{_ref(name)}"))


class Client:
    """`Client()` reads MODELPLANE_URL and MODELPLANE_API_KEY; `verify` is a CA bundle path for TLS."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
        verify: bool | str = True,
    ) -> None:
        url = url or os.environ.get("MODELPLANE_URL")
        if not url:
            raise errors.Invalid("say where the platform is: Client(url) or MODELPLANE_URL=http://HOST:PORT")
        self._http = _Http(url, api_key or os.environ.get("MODELPLANE_API_KEY"), timeout, verify)
        self.datasets = Datasets(self._http)
        self.runs = Runs(self._http)
        self.models = Models(self._http)
        self.deployments = Deployments(self._http)
        self.studies = Studies(self._http)
        self.keys = Keys(self._http)
        self.usage = UsageReports(self._http)
        self.audit = AuditLog(self._http)
        self.jobs = Jobs(self._http)
        self.retrain_policies = RetrainPolicies(self._http)

    @property
    def url(self) -> str:
        return self._http.url

    def train(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        progress: bool = False,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        wait: bool = True,
        **fields: Any,
    ) -> RunInfo:
        """Start a run on the server; with `wait`, follow it (per-epoch callbacks) until it ends."""
        found = self._http.json("POST", "/api/v1/runs", json={**(config or {}), **fields})
        run = parse(RunInfo, found)
        return self._follow(run, found["job_id"], progress, on_epoch) if wait else run

    def retrain(self, model: str) -> FiringInfo:
        """Fire `model`'s retrain policy now; returns the firing (`.job_id` is the job to follow)."""
        return parse(FiringInfo, self._http.json("POST", f"/api/v1/retrain-policies/{_ref(model)}/trigger"))

    def resume(self, run_id: str, *, progress: bool = False) -> RunInfo:
        found = self._http.json("POST", f"/api/v1/runs/{_ref(run_id)}/resume")
        return self._follow(parse(RunInfo, found), found["job_id"], progress, None)

    def _follow(
        self,
        run: RunInfo,
        job_id: str,
        progress: bool,
        on_epoch: Callable[[dict[str, float]], None] | None,
    ) -> RunInfo:
        """Report the run's new epochs until the job training it ends (the run's own status lags behind
        the job while a worker has yet to start it)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        epochs = int(run.config.get("epochs", 0)) or None
        seen = len(run.history)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            disable=not progress,
            transient=True,
        ) as bar:
            task = bar.add_task(f"run {run.id} on {self.url}", total=epochs, metrics="")
            while True:
                finished = self.jobs.get(job_id).finished  # read first: the run is final once it is
                run = self.runs.get(run.id)
                for epoch in run.history[seen:]:
                    if on_epoch is not None:
                        on_epoch(epoch)
                    shown = ", ".join(f"{k} {v:.4f}" for k, v in epoch.items() if k != "epoch")
                    bar.update(task, completed=len(run.history), metrics=shown)
                seen = len(run.history)
                if finished:
                    break
                time.sleep(0.25)
        if run.status != "succeeded":
            raise errors.ModelplaneError(
                f"run {run.id} {run.status}: {run.error or 'see `modelplane runs show`'}"
            )
        return run

    def evaluate(
        self, model_ref: str, data_ref: str, *, split: str = "test", runtime: str = "onnx"
    ) -> EvaluationReport:
        body = {"model": model_ref, "data": data_ref, "split": split, "runtime": runtime}
        return parse(EvaluationReport, self._http.json("POST", "/api/v1/evaluations", json=body))

    def export(self, model_ref: str, fmt: str, out_dir: str | Path) -> list[Path]:
        response = self._http.call(
            "GET", f"/api/v1/versions/{_ref(model_ref)}/export", params={"format": fmt}
        )
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            names = [Path(n).name for n in archive.namelist()]
            for name in names:
                (out / name).write_bytes(archive.read(name))
        return [out / name for name in names]

    def deploy(self, spec: Mapping[str, Any], *, name: str | None = None) -> DeploymentInfo:
        found = self._http.json("POST", "/api/v1/deployments", json={"spec": dict(spec), "name": name})
        return parse(DeploymentInfo, found)

    def predict(self, deployment: str, rows: Any) -> dict[str, np.ndarray]:
        """Outputs for `rows` (an array, nested lists, or a .csv/.parquet/.npz file) from the data plane."""
        if isinstance(rows, (str, Path)):
            from modelplane.serving.offline import read_rows

            rows = read_rows(str(rows))
        x = np.asarray(rows, dtype=np.float32)
        body = {
            "inputs": [
                {"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
            ]
        }
        found = self._http.json("POST", f"/v2/models/{_ref(deployment)}/infer", json=body)
        return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in found["outputs"]}

    def batch(
        self,
        deployment: str,
        input: str | Path,
        output: str | Path,
        *,
        id_column: str | None = None,
        chunk_rows: int = 50_000,
        batch_size: int = 4096,
        overwrite: bool = False,
        background: bool = False,
        on_update: Callable[[JobInfo], None] | None = None,
    ) -> JobInfo:
        """Upload `input`, predict it on the server as a job, and (unless `background`) wait for it and
        download the predictions to `output`; `modelplane jobs download` fetches them later."""
        from modelplane.jobs.batch.paths import check_input, check_output
        from modelplane.jobs.follow import succeeded

        source, target = Path(input).expanduser(), Path(output).expanduser().resolve()
        check_input(source)
        fmt = check_output(target, overwrite=overwrite)
        body = {
            "deployment": deployment,
            "input": self.datasets.upload(source),
            "output_format": fmt,
            "id_column": id_column,
            "chunk_rows": chunk_rows,
            "batch_size": batch_size,
        }
        job = parse(JobInfo, self._http.json("POST", "/api/v1/batch", json=body))
        if background:
            return job
        job = succeeded(self.jobs.wait(job.id, on_update=on_update))
        self.jobs.download(job.id, target, overwrite=overwrite)
        return job

    def tune(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        resume: str | None = None,
        progress: bool = False,
        **fields: Any,
    ) -> StudyInfo:
        """Run a study on the server's workers (checked now) and wait for its registered best trial;
        `resume=NAME` continues an interrupted one (`parallel`/`timeout` may change)."""
        body = {**(config or {}), **fields, **({"resume": resume} if resume else {})}
        job = parse(JobInfo, self._http.json("POST", "/api/v1/studies", json=body))
        done = self._await(job, progress, f"tune {job.params['study']}")
        return self.studies.get(str(done.result["study"] if done.result else job.params["study"]))

    def compress(
        self,
        ref: str,
        request: Mapping[str, Any] | None = None,
        *,
        progress: bool = False,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        **fields: Any,
    ) -> CompressResult:
        """A smaller version of `ref`, made by a server worker: `compress("m@1", quantize="int8")`.
        `on_epoch` is not called remotely; the job's progress shows the epochs."""
        body = {"ref": ref, "request": {**(request or {}), **fields}}
        job = parse(JobInfo, self._http.json("POST", "/api/v1/compressions", json=body))
        return parse(CompressResult, self._await(job, progress, f"compress {ref}").result)

    def compare(self, refs: builtins.list[str] | tuple[str, ...]) -> Comparison:
        return parse(Comparison, self._http.json("POST", "/api/v1/comparisons", json={"refs": list(refs)}))

    def _await(self, job: JobInfo, progress: bool, title: str) -> JobInfo:
        """Wait for a job to succeed, with a bar of its progress (trials, epochs) when asked."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from modelplane.jobs.follow import succeeded

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            disable=not progress,
            transient=True,
        ) as bar:
            task = bar.add_task(title, total=job.progress.total, state=job.state)

            def show(found: JobInfo) -> None:
                bar.update(task, total=found.progress.total, completed=found.progress.done, state=found.state)

            return succeeded(self.jobs.wait(job.id, on_update=show))

    def close(self) -> None:
        self._http.client.close()
