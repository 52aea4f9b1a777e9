"""The platform's one typed surface: every verb of the CLI, as `Local` (in-process) and `Client` (over HTTP)
both implement it.

The CLI, the console and scripts are written once against `Platform`; the two implementations differ only in
where the work happens. tests/platform checks that both keep exactly these names, parameters, defaults and
types, and mypy checks both against it where the CLI picks one (`cli/context.platform`). Progress is reported
through the `on_*` callbacks; drawing it is the caller's business.

Importing this module stays light (no numpy, torch, scikit-learn or database driver): the views it names
are imported for type checking only.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelplane.retrain.settings import DEFAULT_EPOCHS, DEFAULT_REPLAY
from modelplane.tuning.views import StudyProgress

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    from modelplane.compression.views import Comparison, CompressResult
    from modelplane.data.catalog import DatasetSummary, DatasetVersionInfo
    from modelplane.data.ingest import IngestResult
    from modelplane.evaluation.views import EvaluationReport
    from modelplane.events.views import DeliveryInfo, Event, NewWebhook, WebhookInfo
    from modelplane.jobs.views import JobInfo, LogLine
    from modelplane.monitoring.alert_store import AlertEvent, AlertRuleInfo
    from modelplane.monitoring.drift import DriftReport
    from modelplane.monitoring.feedback import FeedbackItem, FeedbackResult
    from modelplane.monitoring.live import LiveMetrics
    from modelplane.monitoring.windows import WindowInfo
    from modelplane.packaging.manifest import PackageInfo
    from modelplane.registry.gc_report import GcReport
    from modelplane.registry.views import ModelInfo, ModelVersionInfo
    from modelplane.retrain.views import FiringInfo, RetrainPolicyInfo
    from modelplane.security.audit import AuditRecord, Head, Verification
    from modelplane.security.keys import KeyInfo, NewKey
    from modelplane.security.metering import UsageRow
    from modelplane.serving.deployments import DeploymentInfo
    from modelplane.training.run_views import RunInfo
    from modelplane.tuning.views import StudyInfo

OnRows = Callable[[int], None]
"""Rows ingested so far."""
OnEpoch = Callable[[dict[str, float]], None]
"""One finished epoch: `epoch` and its metrics (`train_loss`, `val_accuracy`, ...)."""
OnTrial = Callable[[StudyProgress], None]
"""A study's trials used so far (finished, pruned or failed) against its budget; in-process also its best
value so far and its pruned and failed counts (tuning/views.py)."""
OnJobUpdate = Callable[["JobInfo"], None]
"""The job as last seen: state and progress (done, total, rate, ETA)."""


class DatasetsArea(Protocol):
    """Immutable, content-hashed dataset versions."""

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
        """Ingest `source` (builtin:NAME, a file, a folder, or feedback:DEPLOYMENT) as a new version
        (identical content: none).

        `feedback:DEPLOYMENT`: the deployment's logged predictions that have feedback (of the last `since`,
        e.g. 7d; default all) in the layout of the data its model was trained on, after NAME's latest rows
        when NAME exists (data/from_feedback.py).

        A CSV, TSV or Parquet file is read as a table: `categorical`, `numeric`, `boolean`, `datetime` and
        `ids` name columns of each role, the others' roles are inferred (modelplane.data.roles);
        `drop_columns` are left out. With `append` the latest version's target, roles and left-out columns
        are inherited. `IngestResult.notices` says what was decided for you (inferred ids, ...)."""
        ...

    def list(self) -> builtins.list[DatasetSummary]: ...

    def get(self, ref: str) -> DatasetVersionInfo: ...

    def versions(self, name: str) -> builtins.list[DatasetVersionInfo]: ...

    def delete(self, ref: str) -> builtins.list[str]:
        """`NAME@VERSION`, or `NAME` with every version; refused (Conflict) while a run, model version,
        appended version, retrain policy or job reads it. The refs deleted."""
        ...


class RunsArea(Protocol):
    """Training runs: inputs, per-epoch metrics, result. Ids may be shortened to a unique prefix."""

    def list(self, *, limit: int = 50, model: str | None = None) -> builtins.list[RunInfo]:
        """Newest first."""
        ...

    def get(self, run_id: str) -> RunInfo: ...

    def delete(self, run_id: str) -> None:
        """The run, its metrics and checkpoints; refused while a live version came from it or it trains."""
        ...

    def start(
        self,
        name: str | None = None,
        *,
        experiment: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> RunHandle:
        """Track a run of your own training code (`with platform.runs.start("x") as run:`): it ends
        `succeeded` when the block ends, `failed` (and re-raises) when it raises. `experiment`: a name,
        made when new (MLflow's experiments; None: "Default")."""
        ...


class RunHandle(Protocol):
    """A tracked run while your code runs: what it logs shows in `runs show` (and to MLflow's client)."""

    @property
    def id(self) -> str: ...

    def log_metric(self, key: str, value: float, *, step: int | None = None) -> None:
        """One value; `step` defaults to the next one for this key (0, 1, 2, ...)."""
        ...

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None: ...

    def log_param(self, key: str, value: Any) -> None:
        """Params are fixed once logged: the same key with another value is a Conflict."""
        ...

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def set_tag(self, key: str, value: Any) -> None: ...

    def log_artifact(self, path: str | Path, *, artifact_path: str | None = None) -> str:
        """Upload a file (or a folder's files) into the run; returns its path within the run."""
        ...

    def register_model(
        self,
        name: str,
        model: str | Path,
        *,
        task: str | None = None,
        classes: Sequence[str] | None = None,
    ) -> ModelVersionInfo:
        """Import a model file or MLflow model folder as a version of `name`, lineage to this run. `model`: a
        local path (logged into the run first) or the path of an artifact this run logged."""
        ...

    def end(self, status: str = "succeeded") -> RunInfo:
        """Finish the run (`succeeded`, `failed` or `interrupted`); the `with` block calls it for you."""
        ...

    def info(self) -> RunInfo: ...

    def __enter__(self) -> RunHandle: ...

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None: ...


class ModelsArea(Protocol):
    """The registry: versions, lineage and aliases (moving an alias back is the rollback)."""

    def list(self) -> builtins.list[ModelInfo]: ...

    def get(self, name: str) -> ModelInfo: ...

    def version(self, ref: str) -> ModelVersionInfo: ...

    def alias(self, ref: str, alias: str) -> ModelVersionInfo: ...

    def unalias(self, name: str, alias: str) -> None: ...

    def delete(self, ref: str, *, force: bool = False) -> None:
        """`NAME@VERSION` retires a version; `NAME` deletes the model (aliases, versions, name). Refused
        (Conflict) while an alias, child, deployment, job or retrain policy holds it; `force` overrides
        only children in other models and a retrain policy (which goes with the model)."""
        ...

    def retain(self, name: str, *, keep_last: int | None, keep_aliased: bool = False) -> builtins.list[str]:
        """Keep the newest `keep_last` versions (None: no policy); older ones nothing holds are retired now,
        on each registration and by `gc`. The refs retired now."""
        ...

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
        """A new version of `name` from a model trained elsewhere: an ONNX, skops or TorchScript file, a
        folder of safetensors + modelplane spec JSON, or an MLflow model folder (onnx / skops sklearn)."""
        ...


class StudiesArea(Protocol):
    """Tuning studies: a summary of each, or one with every trial and the parameter importances."""

    def list(self) -> builtins.list[StudyInfo]: ...

    def get(self, name: str) -> StudyInfo: ...

    def delete(self, name: str) -> None:
        """The study and its trials' checkpoints; refused while it is searched."""
        ...


class DeploymentsArea(Protocol):
    def list(self) -> builtins.list[DeploymentInfo]: ...

    def get(self, name: str) -> DeploymentInfo: ...

    def undeploy(self, name: str) -> None: ...


class JobsArea(Protocol):
    """Background jobs (training, tuning, compression, batch prediction); `modelplane up` or `modelplane
    worker` runs them. Ids may be shortened to a unique prefix."""

    def list(
        self, *, limit: int = 50, state: str | None = None, kind: str | None = None
    ) -> builtins.list[JobInfo]:
        """Newest first."""
        ...

    def get(self, job_id: str) -> JobInfo: ...

    def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> builtins.list[LogLine]:
        """Log lines numbered after `after`."""
        ...

    def follow(self, job_id: str, *, poll_s: float = 0.5) -> Iterator[LogLine]:
        """Log lines as they are written, until the job ends."""
        ...

    def cancel(self, job_id: str) -> JobInfo:
        """A queued job ends at once; a running one stops within a couple of seconds."""
        ...

    def wait(self, job_id: str, *, on_update: OnJobUpdate | None = None) -> JobInfo:
        """Poll until the job ends; `on_update` sees every poll."""
        ...

    def train(self, config: Mapping[str, Any] | None = None, **fields: Any) -> JobInfo:
        """Queue a training run (checked now, so a bad config fails here)."""
        ...

    def resume(self, run_id: str) -> JobInfo:
        """Queue a job that continues a failed or interrupted run from its last checkpoint."""
        ...

    def download(self, job_id: str, path: str | Path, *, overwrite: bool = False) -> Path:
        """Copy a finished batch job's output to `path`."""
        ...


class RetrainPoliciesArea(Protocol):
    """Continuous training: one policy per model (the dataset it watches, what fires it, the gate, the
    canary)."""

    def set(
        self,
        model: str,
        *,
        data: str,
        on: str = "new-data",
        gate: str | None = None,
        canary: str | None = None,
        replay: float = DEFAULT_REPLAY,
        epochs: int = DEFAULT_EPOCHS,
        lr: float | None = None,
        enabled: bool = True,
        when: str | None = None,
    ) -> RetrainPolicyInfo:
        """Create or replace `model`'s policy; `on` is new-data, manual, schedule:CRON, drift or
        accuracy-drop (`when`: the alert rule that fires those, instead of their defaults)."""
        ...

    def list(self) -> builtins.list[RetrainPolicyInfo]:
        """Every policy with its latest firing."""
        ...

    def get(self, model: str) -> RetrainPolicyInfo:
        """The policy with its recent firings, newest first."""
        ...

    def delete(self, model: str) -> None: ...


class KeysArea(Protocol):
    def create(
        self,
        *,
        role: str,
        name: str,
        deployments: tuple[str, ...] | builtins.list[str] = (),
        rate: str | None = None,
        quota: str | None = None,
    ) -> NewKey:
        """A new key; the result's `.key` is the only time the raw key is shown."""
        ...

    def list(self, *, include_revoked: bool = True) -> builtins.list[KeyInfo]: ...

    def revoke(self, key_id: str) -> KeyInfo: ...


class UsageArea(Protocol):
    def report(
        self, since: date | str | None = None, until: date | str | None = None, *, key: str | None = None
    ) -> builtins.list[UsageRow]:
        """Usage per key, deployment and UTC day, `since` (default: the 1st of this month) and `until`
        (default: today) inclusive, as dates or YYYY-MM-DD."""
        ...


class AuditArea(Protocol):
    def log(self, *, limit: int = 50) -> builtins.list[AuditRecord]:
        """The newest entries, newest first."""
        ...

    def verify(self) -> Verification:
        """Recompute the hash chain; `.ok`, or `.first_bad` naming what was tampered with."""
        ...

    def head(self) -> Head: ...


class WebhooksArea(Protocol):
    """URLs that receive signed platform events (admin only); see events/delivery.py for the format."""

    def add(
        self, url: str, *, events: tuple[str, ...] | builtins.list[str] = (), secret: str | None = None
    ) -> NewWebhook:
        """Send `events` (every type when empty) to `url` from now on; the result's `.secret` signs them
        (generated when none is given)."""
        ...

    def list(self) -> builtins.list[WebhookInfo]: ...

    def remove(self, webhook_id: str) -> None: ...

    def test(self, webhook_id: str) -> DeliveryInfo:
        """Send a `ping` event now and return how it went (status code, error)."""
        ...

    def deliveries(self, webhook_id: str, *, limit: int = 50) -> builtins.list[DeliveryInfo]:
        """The newest deliveries, newest first: event, state, attempts, last status and error, next retry."""
        ...


class EventsArea(Protocol):
    """Platform events (registry, deployments, jobs, keys, ...) as the caller's role may see them."""

    def list(
        self,
        *,
        types: tuple[str, ...] | builtins.list[str] = (),
        after: int | None = None,
        limit: int = 50,
    ) -> builtins.list[Event]:
        """Oldest first: the first `limit` after event id `after`, or without it the newest `limit`."""
        ...

    def stream(
        self, *, types: tuple[str, ...] | builtins.list[str] = (), last_id: int | None = None
    ) -> Iterator[Event]:
        """Events as they happen, after `last_id` (or from now), until the caller stops or the server does."""
        ...


class MonitorArea(Protocol):
    """The monitor's windows: traffic, drift, estimated and live accuracy per served version."""

    def run(self, deployment: str) -> builtins.list[WindowInfo]:
        """Compute the deployment's window now (as its scheduled monitor job does), store it, evaluate its
        alert rules; one window per version in it."""
        ...

    def windows(self, deployment: str, *, limit: int = 50) -> builtins.list[WindowInfo]:
        """The newest stored windows, newest first."""
        ...


class FeedbackArea(Protocol):
    """Ground truth for served predictions, joined to the prediction log by request id, and the live
    metrics it gives (monitoring/feedback.py, monitoring/live.py)."""

    def send(self, deployment: str, items: Sequence[Mapping[str, Any] | FeedbackItem]) -> FeedbackResult:
        """Items `{"request_id", "row": 0, "label"}` (a class name; an int is a class index unless the
        classes are numbers) or `{"request_id", "row", "value"}` for regressors, at most 100,000. One bad
        item refuses the batch; ids the log does not hold are counted and listed, the rest stored; a row
        labelled again keeps the last label."""
        ...

    def live(self, deployment: str, *, window: str = "1h") -> builtins.list[LiveMetrics]:
        """Per served version, the predictions of the last `window` (1h, 1d, 7d, any duration) with their
        feedback: accuracy and macro F1, or MAE and RMSE, beside the version's test metrics."""
        ...


class AlertsArea(Protocol):
    """Alert rules per deployment (`drift > 0.2 for 2 windows`, see monitoring/alert_rules.py) and the
    history of their firings; firings and resolutions are also `alert.*` events (webhooks, stream)."""

    def add(self, deployment: str, when: str) -> AlertRuleInfo:
        """Watch `deployment` with the rule `when`; a rule that does not parse is refused."""
        ...

    def rules(self, deployment: str | None = None) -> builtins.list[AlertRuleInfo]:
        """The rules of `deployment` (or of all), with where each stands (ok or firing)."""
        ...

    def remove(self, rule_id: int) -> None:
        """Stop a rule (its history stays); a retrain policy's rules go with the policy only."""
        ...

    def history(self, deployment: str | None = None, *, limit: int = 50) -> builtins.list[AlertEvent]:
        """Firings and resolutions, newest first."""
        ...


class DriftArea(Protocol):
    """Drift of a deployment's logged rows against each serving version's reference profile."""

    def compute(self, deployment: str, *, window: str = "1h") -> builtins.list[DriftReport]:
        """One report per version that answered in the last `window`: per-feature tests, prediction drift,
        data quality, estimated accuracy."""
        ...


class PredictionsArea(Protocol):
    """The prediction log of each deployment (monitoring/schema.py has its columns)."""

    def read(
        self,
        deployment: str,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 1000,
    ) -> pa.Table:
        """The newest `limit` logged rows in [since, until) (a datetime, an ISO time, or a duration ago
        such as "1h"), oldest first."""
        ...


class Platform(Protocol):
    """Everything a user does with modelplane, in-process or against a server."""

    @property
    def datasets(self) -> DatasetsArea: ...

    @property
    def runs(self) -> RunsArea: ...

    @property
    def models(self) -> ModelsArea: ...

    @property
    def studies(self) -> StudiesArea: ...

    @property
    def deployments(self) -> DeploymentsArea: ...

    @property
    def jobs(self) -> JobsArea: ...

    @property
    def retrain_policies(self) -> RetrainPoliciesArea: ...

    @property
    def keys(self) -> KeysArea: ...

    @property
    def usage(self) -> UsageArea: ...

    @property
    def audit(self) -> AuditArea: ...

    @property
    def webhooks(self) -> WebhooksArea: ...

    @property
    def events(self) -> EventsArea: ...

    @property
    def monitor(self) -> MonitorArea: ...

    @property
    def feedback(self) -> FeedbackArea: ...

    @property
    def alerts(self) -> AlertsArea: ...

    @property
    def drift(self) -> DriftArea: ...

    @property
    def predictions(self) -> PredictionsArea: ...

    def train(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        on_epoch: OnEpoch | None = None,
        wait: bool = True,
        **fields: Any,
    ) -> RunInfo:
        """Train and register: `train(data="digits", model="mlp", train={"epochs": 5})` or a config dict.
        Without `wait`, the run is queued as a job and returned as it stands."""
        ...

    def resume(self, run_id: str, *, on_epoch: OnEpoch | None = None) -> RunInfo:
        """Continue a failed or interrupted run from its last checkpoint, until it ends."""
        ...

    def tune(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        resume: str | None = None,
        on_trial: OnTrial | None = None,
        **fields: Any,
    ) -> StudyInfo:
        """Search, then register the best trial: `tune(data="digits", model="mlp", trials=20)`;
        `tune(resume=NAME)` continues a study with its stored settings (`parallel`/`timeout` may change)."""
        ...

    def retrain(self, model: str) -> FiringInfo:
        """Fire `model`'s retrain policy now; `.job_id` is the queued job a worker runs."""
        ...

    def evaluate(
        self, model_ref: str, data_ref: str, *, split: str = "test", runtime: str = "onnx"
    ) -> EvaluationReport: ...

    def export(self, model_ref: str, fmt: str, out_dir: str | Path) -> builtins.list[Path]:
        """Write a version as ONNX or TorchScript (with its JSON card) into `out_dir`."""
        ...

    def compress(
        self,
        ref: str,
        request: Mapping[str, Any] | None = None,
        *,
        on_epoch: OnEpoch | None = None,
        **fields: Any,
    ) -> CompressResult:
        """A smaller version of `ref` under the same name: `compress("digits-mlp@1", quantize="int8")`,
        `prune=0.6, structured=True` or `distill="mlp:64,32", epochs=10`; with its comparison to `ref`."""
        ...

    def compare(self, refs: builtins.list[str] | tuple[str, ...]) -> Comparison:
        """Size, parameters, latency (batch 1 and 64) and test metrics of `refs`, relative to the first."""
        ...

    def deploy(self, spec: Mapping[str, Any], *, name: str | None = None) -> DeploymentInfo:
        """Save a deployment (`{"model": "digits-cnn@production", "canary": {...}, "batching": {...}}`);
        running servers pick it up within their poll interval."""
        ...

    def package(
        self,
        deployment: str,
        out_dir: str | Path,
        *,
        image: str | None = None,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
    ) -> PackageInfo:
        """Write `deployment` as a package into `out_dir`: its versions resolved now, in plaintext, with a
        Dockerfile and Kubernetes/KServe manifests; `modelplane serve --from out_dir` serves it."""
        ...

    def predict(
        self,
        deployment: str,
        rows: npt.ArrayLike | Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | Path,
        *,
        strict: bool = False,
    ) -> dict[str, np.ndarray]:
        """Outputs (`label`, the class names as a str array, and `probabilities` in the order of the
        model's classes; or `prediction`) for `rows`: rows as dicts, a dict of columns, a pandas DataFrame,
        or a .csv/.parquet file, whose columns are matched by name to those the model reads; or an array
        (nested lists, a .npz file) in the model's column order. A column it does not read is ignored
        with a `Notice` (refused with `strict`); a missing or unreadable one is an `Invalid` naming it."""
        ...

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
        job: checked now, then waited for (or, with `background`, returned queued)."""
        ...

    def gc(self, *, dry_run: bool = False) -> GcReport:
        """Remove what no live row needs (admin): unreferenced artifacts, temp files, stale uploads, old job
        folders, finished studies' checkpoints; the bytes freed per category. `dry_run` changes nothing."""
        ...

    def close(self) -> None: ...
