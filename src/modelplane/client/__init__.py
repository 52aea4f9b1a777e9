"""The Python SDK: `Client(url, api_key)` implements `modelplane.platform.Platform` over HTTP, as
`modelplane.Local` does in-process.

Answers come back as the same view classes the library returns (rebuilt from JSON), and failures as the
same typed errors (`modelplane.errors`), so the CLI runs one code path against either. Local files given
as dataset sources are uploaded in verified, resumable chunks. Progress comes back through the `on_*`
callbacks, as the server's job reports it. Each verb imports the views it returns when called, so a client
that lists runs loads no more than that.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane import errors
from modelplane.client.catalog import Datasets, Models, Runs, Studies
from modelplane.client.events import Events, Webhooks
from modelplane.client.http import Http, parse, quoted
from modelplane.client.monitor import Monitor
from modelplane.client.monitor_alerts import Alerts
from modelplane.client.monitor_drift import Drift
from modelplane.client.monitor_feedback import Feedback
from modelplane.client.monitor_log import Predictions
from modelplane.client.operations import Deployments, Jobs, RetrainPolicies
from modelplane.client.security import AuditLog, Keys, UsageReports
from modelplane.platform import OnEpoch, OnJobUpdate, OnTrial

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from modelplane.compression.views import Comparison, CompressResult
    from modelplane.evaluation.views import EvaluationReport
    from modelplane.jobs.views import JobInfo
    from modelplane.packaging.manifest import PackageInfo
    from modelplane.registry.gc_report import GcReport
    from modelplane.retrain.views import FiringInfo
    from modelplane.serving.deployments import DeploymentInfo
    from modelplane.training.run_views import RunInfo
    from modelplane.tuning.views import StudyInfo


# How long `deploy` waits for the server to load a new deployment before saying it did not.
DEPLOY_WAIT_S = 60.0


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
        self.webhooks = Webhooks(self._http)
        self.events = Events(self._http)
        self.monitor = Monitor(self._http)
        self.feedback = Feedback(self._http)
        self.alerts = Alerts(self._http)
        self.drift = Drift(self._http)
        self.predictions = Predictions(self._http)

    @property
    def url(self) -> str:
        return self._http.url

    def train(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        on_epoch: OnEpoch | None = None,
        wait: bool = True,
        **fields: Any,
    ) -> RunInfo:
        """Start a run on the server; with `wait`, follow it (per-epoch callbacks) until it ends."""
        from modelplane.training.run_views import RunInfo

        found = self._http.json("POST", "/api/v1/runs", json={**(config or {}), **fields})
        run = parse(RunInfo, found)
        return self._follow(run, found["job_id"], on_epoch) if wait else run

    def retrain(self, model: str) -> FiringInfo:
        """Fire `model`'s retrain policy now; returns the firing (`.job_id` is the job to follow)."""
        from modelplane.retrain.views import FiringInfo

        return parse(FiringInfo, self._http.json("POST", f"/api/v1/retrain-policies/{quoted(model)}/trigger"))

    def resume(self, run_id: str, *, on_epoch: OnEpoch | None = None) -> RunInfo:
        from modelplane.training.run_views import RunInfo

        found = self._http.json("POST", f"/api/v1/runs/{quoted(run_id)}/resume")
        return self._follow(parse(RunInfo, found), found["job_id"], on_epoch)

    def _follow(self, run: RunInfo, job_id: str, on_epoch: OnEpoch | None) -> RunInfo:
        """Report the run's new epochs until the job training it ends (the run's own status lags behind
        the job while a worker has yet to start it)."""
        seen = len(run.history)
        while True:
            finished = self.jobs.get(job_id).finished  # read first: the run is final once it is
            run = self.runs.get(run.id)
            if on_epoch is not None:
                for epoch in run.history[seen:]:
                    on_epoch(epoch)
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
        from modelplane.evaluation.views import EvaluationReport

        body = {"model": model_ref, "data": data_ref, "split": split, "runtime": runtime}
        return parse(EvaluationReport, self._http.json("POST", "/api/v1/evaluations", json=body))

    def export(self, model_ref: str, fmt: str, out_dir: str | Path) -> builtins.list[Path]:
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
        from modelplane.serving.deployments import DeploymentInfo

        found = self._http.json("POST", "/api/v1/deployments", json={"spec": dict(spec), "name": name})
        info = parse(DeploymentInfo, found)
        self._await_served(info.name)
        return info

    def _await_served(self, name: str) -> None:
        """Wait until the server serves a new deployment (it loads it within its poll interval), so that a
        predict right after `deploy` finds it; a changed one is served by its old version until it swaps."""
        deadline = time.monotonic() + DEPLOY_WAIT_S
        pause = 0.02
        while True:
            try:
                self._http.call("GET", f"/v2/models/{quoted(name)}/ready")
                return
            except (errors.NotFound, errors.Unavailable):  # not loaded yet, or loading
                if time.monotonic() > deadline:
                    raise errors.Unavailable(
                        f"deployment {name!r} is saved, but the server did not serve it within "
                        f"{DEPLOY_WAIT_S:g} s; its log says why"
                    ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def package(
        self,
        deployment: str,
        out_dir: str | Path,
        *,
        image: str | None = None,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
    ) -> PackageInfo:
        """The server packages `deployment`; its .tar.gz is unpacked and verified into `out_dir`."""
        from modelplane.client.package import download_package

        bounds = {"min_replicas": min_replicas, "max_replicas": max_replicas}
        params: dict[str, str | int] = {k: v for k, v in bounds.items() if v is not None}
        if image is not None:
            params["image"] = image
        return download_package(self._http, deployment, Path(out_dir), params)

    def predict(
        self,
        deployment: str,
        rows: npt.ArrayLike | Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | Path,
        *,
        strict: bool = False,
    ) -> dict[str, np.ndarray]:
        """Outputs for `rows` from the data plane. Named columns (rows as dicts, a dict of columns, a pandas
        DataFrame, or a .csv/.parquet file for a model of named columns) are sent by name and matched by
        the server; arrays, nested lists and .npz files as one matrix in the model's column order."""
        from modelplane.client.predict import predict_array, predict_columns, reads_columns
        from modelplane.serving.named import named_columns, read_columns

        if isinstance(rows, (str, Path)):
            from modelplane.data.formats.registry import check_batch_input

            path = Path(rows).expanduser()
            if check_batch_input(path).named_columns and reads_columns(self._http, deployment):
                found = read_columns(path)
                return predict_columns(self._http, deployment, found, strict=strict, source=path.name)
            return predict_array(self._http, deployment, self._file_rows(deployment, path, strict=strict))
        columns = named_columns(rows)
        if columns is not None:
            return predict_columns(self._http, deployment, columns, strict=strict)
        return predict_array(self._http, deployment, rows)

    def _file_rows(self, deployment: str, path: str | Path, *, strict: bool) -> np.ndarray:
        """A file's rows for a model of arrays, read here in its column order (by count, or by name where
        the dataset it was trained on names them)."""
        from modelplane.data.inputs import column_names
        from modelplane.errors import NotFound
        from modelplane.serving.offline import read_rows

        version = self.models.version(self.deployments.get(deployment).spec.refs()[0])
        names = None
        if version.dataset is not None:
            with contextlib.suppress(NotFound):
                names = column_names(self.datasets.get(version.dataset))
        return read_rows(path, input_shape=version.input_shape, trained_names=names, strict=strict)

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
        on_update: OnJobUpdate | None = None,
    ) -> JobInfo:
        """Upload `input`, predict it on the server as a job, and (unless `background`) wait for it and
        download the predictions to `output`; `modelplane jobs download` fetches them later."""
        from modelplane.data.formats.registry import check_batch_input
        from modelplane.jobs.batch.paths import check_output
        from modelplane.jobs.follow import succeeded
        from modelplane.jobs.views import JobInfo

        source, target = Path(input).expanduser(), Path(output).expanduser().resolve()
        check_batch_input(source)
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
        on_trial: OnTrial | None = None,
        **fields: Any,
    ) -> StudyInfo:
        """Run a study on the server's workers (checked now) and wait for its registered best trial;
        `resume=NAME` continues an interrupted one (`parallel`/`timeout` may change). Remotely `on_trial`
        hears the trials used and the budget only, as the job reports them."""
        from modelplane.jobs.views import JobInfo
        from modelplane.tuning.views import StudyProgress

        body = {**(config or {}), **fields, **({"resume": resume} if resume else {})}
        job = parse(JobInfo, self._http.json("POST", "/api/v1/studies", json=body))
        budget = job.progress.total
        on_unit = (lambda used: on_trial(StudyProgress(used, budget))) if on_trial is not None else None
        done = self._await(job, on_unit)
        return self.studies.get(str(done.result["study"] if done.result else job.params["study"]))

    def compress(
        self,
        ref: str,
        request: Mapping[str, Any] | None = None,
        *,
        on_epoch: OnEpoch | None = None,
        **fields: Any,
    ) -> CompressResult:
        """A smaller version of `ref`, made by a server worker: `compress("m@1", quantize="int8")`.
        Remotely `on_epoch` sees each epoch's number only (`{"epoch": 3.0}`), as the job reports it."""
        from modelplane.compression.views import CompressResult
        from modelplane.jobs.views import JobInfo

        body = {"ref": ref, "request": {**(request or {}), **fields}}
        job = parse(JobInfo, self._http.json("POST", "/api/v1/compressions", json=body))
        on_unit = (lambda done: on_epoch({"epoch": float(done)})) if on_epoch is not None else None
        return parse(CompressResult, self._await(job, on_unit).result)

    def compare(self, refs: builtins.list[str] | tuple[str, ...]) -> Comparison:
        from modelplane.compression.views import Comparison

        return parse(Comparison, self._http.json("POST", "/api/v1/comparisons", json={"refs": list(refs)}))

    def _await(self, job: JobInfo, on_unit: Callable[[int], None] | None) -> JobInfo:
        """Wait for a job to succeed; `on_unit(done)` hears each new unit of its progress (trials, epochs)."""
        from modelplane.jobs.follow import succeeded

        seen = 0

        def report(found: JobInfo) -> None:
            nonlocal seen
            if on_unit is not None and found.progress.done > seen:
                seen = found.progress.done
                on_unit(seen)

        return succeeded(self.jobs.wait(job.id, on_update=report))

    def gc(self, *, dry_run: bool = False) -> GcReport:
        from modelplane.registry.gc_report import GcReport

        return parse(GcReport, self._http.json("POST", "/api/v1/gc", params={"dry_run": dry_run}))

    def close(self) -> None:
        self._http.client.close()
