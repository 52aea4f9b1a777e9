"""The Python SDK: `Client(url, api_key)` has the surface of `modelplane.Local`, over HTTP.

Answers come back as the same view classes the library returns (rebuilt from JSON), and failures as the
same typed errors (`modelplane.errors`), so the CLI runs one code path against either. Local files given
as dataset sources are uploaded in verified, resumable chunks.
"""

from __future__ import annotations

import builtins
import io
import os
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelplane import errors
from modelplane.client.catalog import Datasets, Models, Runs, Studies
from modelplane.client.http import Http, parse, quoted
from modelplane.client.operations import Deployments, Jobs, RetrainPolicies
from modelplane.client.security import AuditLog, Keys, UsageReports
from modelplane.compression.views import Comparison, CompressResult
from modelplane.evaluation.views import EvaluationReport
from modelplane.jobs.views import JobInfo
from modelplane.retrain.views import FiringInfo
from modelplane.serving.deployments import DeploymentInfo
from modelplane.training.run_views import RunInfo
from modelplane.tuning.views import StudyInfo


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
        self._http = Http(url, api_key or os.environ.get("MODELPLANE_API_KEY"), timeout, verify)
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
        return parse(FiringInfo, self._http.json("POST", f"/api/v1/retrain-policies/{quoted(model)}/trigger"))

    def resume(self, run_id: str, *, progress: bool = False) -> RunInfo:
        found = self._http.json("POST", f"/api/v1/runs/{quoted(run_id)}/resume")
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
            "GET", f"/api/v1/versions/{quoted(model_ref)}/export", params={"format": fmt}
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
        found = self._http.json("POST", f"/v2/models/{quoted(deployment)}/infer", json=body)
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
