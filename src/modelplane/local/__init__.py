"""The in-process platform: every verb of the CLI as a method, no server needed.

`modelplane.Local()` uses MODELPLANE_HOME (default ~/.modelplane). Like the HTTP client, it implements
`modelplane.platform.Platform`; each verb imports what it needs when called, so listing stays light.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.config import Settings, get_settings
from modelplane.local.catalog import Datasets, Models, Runs, Studies
from modelplane.local.events import Events, Webhooks
from modelplane.local.monitor import Monitor
from modelplane.local.monitor_alerts import Alerts
from modelplane.local.monitor_drift import Drift
from modelplane.local.monitor_feedback import Feedback
from modelplane.local.monitor_log import Predictions
from modelplane.local.operations import Deployments, Jobs, RetrainPolicies
from modelplane.local.security import AuditLog, Keys, UsageReports
from modelplane.platform import OnEpoch, OnJobUpdate, OnTrial
from modelplane.store import Store

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


class Local:
    """One platform on local files and a database: `Local(home="/tmp/mp")` or from MODELPLANE_* settings."""

    def __init__(self, home: str | Path | None = None, *, database_url: str | None = None) -> None:
        overrides: dict[str, Any] = {}
        if home is not None:
            overrides["home"] = Path(home)
        if database_url is not None:
            overrides["database_url"] = database_url
        settings = Settings().model_copy(update=overrides) if overrides else get_settings()
        self.store = Store.from_settings(settings)
        self.datasets = Datasets(self.store)
        self.runs = Runs(self.store)
        self.models = Models(self.store)
        self.deployments = Deployments(self.store)
        self.studies = Studies(self.store)
        self.keys = Keys(self.store)
        self.usage = UsageReports(self.store)
        self.audit = AuditLog(self.store)
        self.jobs = Jobs(self.store)
        self.retrain_policies = RetrainPolicies(self.store)
        self.webhooks = Webhooks(self.store)
        self.events = Events(self.store)
        self.monitor = Monitor(self.store)
        self.feedback = Feedback(self.store)
        self.alerts = Alerts(self.store)
        self.drift = Drift(self.store)
        self.predictions = Predictions(self.store)

    def train(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        on_epoch: OnEpoch | None = None,
        wait: bool = True,
        **fields: Any,
    ) -> RunInfo:
        """Train and register: `train(data="digits", model="mlp", train={"epochs": 5})` or a config dict.
        Without `wait`, the run is queued as a job (a worker trains it) and returned as it stands. On the
        ray backend the run is always a job, trained on the cluster and followed from here."""
        from modelplane.cluster.connect import ray_address
        from modelplane.provenance import current_user
        from modelplane.training.runs import parse_run_config, start_run

        run_config = parse_run_config({**(config or {}), **fields})
        if not wait or ray_address(self.store.settings) is not None:
            from modelplane.jobs.train import submit_train
            from modelplane.training.run_catalog import get_run

            job = submit_train(self.store, run_config, by=current_user())
            run_id = str(job.params["run_id"])
            if wait:
                self._follow_run(job.id, run_id, on_epoch)
            return get_run(self.store, run_id)
        return start_run(self.store, run_config, by=current_user(), on_epoch=on_epoch)

    def _follow_run(self, job_id: str, run_id: str, on_epoch: OnEpoch | None) -> None:
        """Run the training job here until it ends, passing each newly recorded epoch to `on_epoch`."""
        from modelplane.jobs.follow import succeeded
        from modelplane.jobs.foreground import run_here
        from modelplane.provenance import current_user
        from modelplane.training.run_catalog import get_run

        reported = 0

        def on_update(job: JobInfo) -> None:
            nonlocal reported
            if on_epoch is None or job.progress.done <= reported:
                return
            for metrics in get_run(self.store, run_id).history[reported:]:
                on_epoch(dict(metrics))
                reported += 1

        succeeded(run_here(self.store, job_id, by=current_user(), on_update=on_update))

    def tune(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        resume: str | None = None,
        on_trial: OnTrial | None = None,
        **fields: Any,
    ) -> StudyInfo:
        """Search, then register the best trial: `tune(data="digits", model="mlp", trials=20)`.

        `tune(resume="digits-mlp-1")` continues a study with its stored settings; `parallel=` and `timeout=`
        may be given for that session. With `parallel=N` (> 1) trials run in spawned worker processes, so a
        script calling this needs the usual `if __name__ == "__main__":` guard.
        """
        from modelplane.cluster.connect import ray_address
        from modelplane.errors import Invalid
        from modelplane.provenance import current_user
        from modelplane.tuning.config import parse_tune_config
        from modelplane.tuning.studies import resume as resume_study
        from modelplane.tuning.studies import tune

        if ray_address(self.store.settings) is not None:  # a job, run from here on the Ray cluster
            from modelplane.jobs.tune_cluster import tune_here

            request = {**(config or {}), **fields} if resume is None else {"resume": resume, **fields}
            return tune_here(self.store, request, by=current_user(), on_trial=on_trial)
        if resume is None:
            tune_config = parse_tune_config({**(config or {}), **fields})
            return tune(self.store, tune_config, by=current_user(), on_trial=on_trial)
        fixed = sorted({*(config or {}), *fields} - {"parallel", "timeout"})
        if fixed:
            raise Invalid(
                f"--resume continues study {resume} with its stored settings; drop {', '.join(fixed)} "
                "(only parallel and timeout may change)"
            )
        return resume_study(
            self.store,
            resume,
            parallel=fields.get("parallel"),
            timeout=fields.get("timeout"),
            on_trial=on_trial,
        )

    def retrain(self, model: str) -> FiringInfo:
        """Fire `model`'s retrain policy now; returns the firing (`.job_id` is its queued job, which a worker
        runs: `modelplane up`, `modelplane worker`, or `jobs.wait` after starting one)."""
        from modelplane.provenance import current_user
        from modelplane.retrain.firings import trigger_now

        return trigger_now(self.store, model, by=current_user())

    def resume(self, run_id: str, *, on_epoch: OnEpoch | None = None) -> RunInfo:
        from modelplane.training.runs import resume_run

        return resume_run(self.store, run_id, on_epoch=on_epoch)

    def evaluate(
        self, model_ref: str, data_ref: str, *, split: str = "test", runtime: str = "onnx"
    ) -> EvaluationReport:
        from modelplane.evaluation.versions import evaluate_version

        return evaluate_version(self.store, model_ref, data_ref, split=split, runtime=runtime)

    def export(self, model_ref: str, fmt: str, out_dir: str | Path) -> builtins.list[Path]:
        from modelplane.registry.export_files import export_version

        return export_version(self.store, model_ref, fmt, Path(out_dir))

    def compress(
        self,
        ref: str,
        request: Mapping[str, Any] | None = None,
        *,
        on_epoch: OnEpoch | None = None,
        **fields: Any,
    ) -> CompressResult:
        """A smaller version of `ref` under the same name: `compress("digits-mlp@1", quantize="int8")`,
        `prune=0.6, structured=True` or `distill="mlp:64,32", epochs=10`. Returns the new version and
        its comparison with `ref` (`.version`, `.report`, `.to_dict()`)."""
        from modelplane.compression.compress import compress_version
        from modelplane.compression.request import parse_request
        from modelplane.provenance import current_user

        parsed = parse_request({**(request or {}), **fields})
        return compress_version(self.store, ref, parsed, by=current_user(), on_epoch=on_epoch)

    def compare(self, refs: builtins.list[str] | tuple[str, ...]) -> Comparison:
        """Size, parameters, latency (batch 1 and 64) and test metrics of `refs`, relative to the first."""
        from modelplane.compression.compare import compare_versions

        return compare_versions(self.store, list(refs))

    def deploy(self, spec: Mapping[str, Any], *, name: str | None = None) -> DeploymentInfo:
        """Save a deployment (`{"model": "digits-cnn@production", "canary": {...}, "batching": {...}}`);
        running servers pick it up within their poll interval."""
        from modelplane.provenance import current_user
        from modelplane.serving.deployments import parse_spec, save_deployment

        return save_deployment(self.store, parse_spec(dict(spec)), name=name, by=current_user())

    def package(
        self,
        deployment: str,
        out_dir: str | Path,
        *,
        image: str | None = None,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
    ) -> PackageInfo:
        """Write `deployment` as a package into `out_dir` (see modelplane.packaging)."""
        from modelplane.packaging.writer import build_package

        return build_package(
            self.store,
            deployment,
            Path(out_dir),
            image=image,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        )

    def predict(
        self,
        deployment: str,
        rows: npt.ArrayLike | Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | Path,
        *,
        strict: bool = False,
    ) -> dict[str, np.ndarray]:
        """Predict in-process through a deployment, as the server would (its runtimes, its column matching,
        class names as labels); `rows`: named columns (dicts, a dict of columns, a DataFrame), an array,
        or a file."""
        from modelplane.serving.offline import predict_file, predict_offline

        if isinstance(rows, (str, Path)):
            return predict_file(self.store, deployment, rows, strict=strict)
        return predict_offline(self.store, deployment, rows, strict=strict)

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
        """Predict every row of a CSV/Parquet/NPZ file through a deployment into a Parquet or CSV file, as a
        job: checked now, then run here (or, with `background`, queued for a worker). Returns the job."""
        from modelplane.jobs.batch.kind import parse_batch_request, submit_batch
        from modelplane.jobs.follow import succeeded
        from modelplane.jobs.foreground import run_here
        from modelplane.provenance import current_user

        request = parse_batch_request(
            {
                "deployment": deployment,
                "input": str(input),
                "output": str(output),
                "id_column": id_column,
                "chunk_rows": chunk_rows,
                "batch_size": batch_size,
                "overwrite": overwrite,
            }
        )
        job = submit_batch(self.store, request, by=current_user())
        if background:
            return job
        return succeeded(run_here(self.store, job.id, by=current_user(), on_update=on_update))

    def gc(self, *, dry_run: bool = False) -> GcReport:
        """Remove what no live row needs; the bytes freed per category (see registry/gc.py)."""
        from modelplane.provenance import current_user
        from modelplane.registry.gc import collect

        return collect(self.store, dry_run=dry_run, by=current_user())

    def close(self) -> None:
        self.store.close()
