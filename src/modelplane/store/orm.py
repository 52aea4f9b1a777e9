"""SQLAlchemy 2 tables: the metadata every area shares. Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class Artifact(Base):
    """A content-addressed blob on disk; the row says it was written completely. `sha256` (and `size`) are
    of the plaintext, its identity. An encrypted one (security/envelope.py) lives as the sealed blob named
    `blob` (the sha256 of the sealed bytes), its data key wrapped by the master key `key_id`."""

    __tablename__ = "artifacts"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    wrapped_key: Mapped[str | None] = mapped_column(Text)
    blob: Mapped[str | None] = mapped_column(String(64))


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset", order_by="DatasetVersion.version"
    )


class DatasetVersion(Base):
    """One immutable ingest: identified by the hash of its content; may extend a parent by new rows."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        UniqueConstraint("dataset_id", "content_hash"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    num_rows: Mapped[int] = mapped_column(BigInteger)
    new_rows_start: Mapped[int] = mapped_column(BigInteger, default=0)
    source: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    task: Mapped[str | None] = mapped_column(String(20))
    target_name: Mapped[str | None] = mapped_column(String(200))
    feature_names: Mapped[list[Any]] = mapped_column(default=list)
    feature_shape: Mapped[list[Any]] = mapped_column()
    feature_dtype: Mapped[str] = mapped_column(String(20))
    image_shape: Mapped[list[Any] | None] = mapped_column(JSON)
    classes: Mapped[list[Any] | None] = mapped_column(JSON)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    features_sha: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))
    target_sha: Mapped[str | None] = mapped_column(ForeignKey("artifacts.sha256"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    columns: Mapped[list[Any] | None] = mapped_column(JSON)  # a table's columns and roles; NULL: arrays
    ingest_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # how the source was read
    dataset: Mapped[Dataset] = relationship(back_populates="versions")


class Run(Base):
    """One training run: its inputs, per-epoch metrics and, when it succeeded, the version it registered."""

    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    model_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    spec: Mapped[dict[str, Any]] = mapped_column()
    config: Mapped[dict[str, Any]] = mapped_column()
    split: Mapped[dict[str, Any]] = mapped_column()
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    code_version: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    duration_s: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    epochs: Mapped[list[RunMetric]] = relationship(order_by="RunMetric.epoch", cascade="all, delete-orphan")
    # A run your own code tracks (training/tracking_store.py): no dataset; its own name, params and tags.
    name: Mapped[str | None] = mapped_column(String(250))
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id"))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # MLflow's: datasets and models it used
    # Deleting a run takes its logged points and files' rows with it; its logged models stay, unlinked.
    metric_points: Mapped[list[RunMetricPoint]] = relationship(cascade="all, delete-orphan")
    artifact_rows: Mapped[list[RunArtifact]] = relationship(cascade="all, delete-orphan")
    logged_models: Mapped[list[LoggedModel]] = relationship()


class RunMetric(Base):
    __tablename__ = "run_metrics"
    __table_args__ = (UniqueConstraint("run_id", "epoch", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    epoch: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)


class Experiment(Base):
    """A named group of tracked runs (MLflow's experiments; id 0 is its "Default")."""

    __tablename__ = "experiments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(250), unique=True)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class RunMetricPoint(Base):
    """One logged value of a tracked run's metric: several per step are kept, as MLflow keeps them."""

    __tablename__ = "run_metric_points"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    name: Mapped[str] = mapped_column(String(250))
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)


class RunArtifact(Base):
    """A file a tracked run logged, at its artifact path (`<experiment>/<run>/artifacts/<file>`, or
    `<experiment>/models/<model>/artifacts/<file>` for an MLflow logged model); content-addressed."""

    __tablename__ = "run_artifacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), unique=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoggedModel(Base):
    """An MLflow 3 logged model: a directory of artifacts a run produced, registrable as a version."""

    __tablename__ = "logged_models"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    name: Mapped[str] = mapped_column(String(250))
    model_type: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RegisteredModel(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by `models delete NAME`; the row stays so a re-created model numbers on after its old versions.
    deleted_at: Mapped[datetime | None] = mapped_column()
    # Retention (registry/retention.py): keep the newest `keep_last` versions nothing else holds.
    keep_last: Mapped[int | None] = mapped_column(Integer)
    keep_aliased: Mapped[bool] = mapped_column(Boolean, default=False)
    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", order_by="ModelVersion.version"
    )
    aliases: Mapped[list[Alias]] = relationship(back_populates="model", order_by="Alias.name")


class ModelVersion(Base):
    """Immutable: spec + weights + metrics + lineage (run, dataset version, parent version). Files made
    from its weights (a TorchScript trace a deployment asked for) may join its `artifacts` later."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[int] = mapped_column(Integer)
    framework: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    spec: Mapped[dict[str, Any]] = mapped_column()
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    classes: Mapped[list[Any] | None] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    parent_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    code_version: Mapped[str | None] = mapped_column(String(64))
    onnx_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    deleted_at: Mapped[datetime | None] = mapped_column()
    # Ed25519 signature of the version's manifest (security/signing.py) and the id of the key that made it;
    # NULL for a version registered before manifests were signed (`modelplane keys sign-unsigned`).
    signature: Mapped[str | None] = mapped_column(Text)
    signing_key_id: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[RegisteredModel] = relationship(back_populates="versions")
    artifacts: Mapped[list[ModelVersionArtifact]] = relationship(order_by="ModelVersionArtifact.format")


class ModelVersionArtifact(Base):
    """One file of a version, by format: its native weights (safetensors, skops; an int8 version's ONNX
    graph), the ONNX graph it serves, a TorchScript trace made when a deployment asked for one. Rows, not
    columns, so a new runtime's format needs no migration."""

    __tablename__ = "model_version_artifacts"
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    format: Mapped[str] = mapped_column(String(20), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)


class Alias(Base):
    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("model_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    name: Mapped[str] = mapped_column(String(100))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[RegisteredModel] = relationship(back_populates="aliases")
    target: Mapped[ModelVersion] = relationship()


class AliasEvent(Base):
    """History of alias moves, so a rollback can be seen and repeated."""

    __tablename__ = "alias_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    alias: Mapped[str] = mapped_column(String(100))
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(200), default="")


class Deployment(Base):
    """What should be served under a name: model refs (aliases resolve at load time), routing and batching."""

    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column()
    generation: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class ApiKey(Base):
    """An API key: only a hash of its secret is kept; `rate` and `quota` hold canonical limit specs."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    deployments: Mapped[list[Any]] = mapped_column(default=list)
    secret_hash: Mapped[str] = mapped_column(String(64))
    rate: Mapped[str | None] = mapped_column(String(60))
    quota: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(200))


class ApiKeyGeneration(Base):
    """One row, bumped by every key change: servers poll it to drop their cache of verified keys."""

    __tablename__ = "api_key_generation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class Usage(Base):
    """Inference usage summed per key, deployment, version, UTC day and status (only ever added to)."""

    __tablename__ = "usage"
    __table_args__ = (
        UniqueConstraint("key_id", "deployment", "version", "day", "status", name="uq_usage_bucket"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    deployment: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(260))
    day: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16))
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    samples: Mapped[int] = mapped_column(BigInteger, default=0)
    compute_ms: Mapped[float] = mapped_column(Float, default=0.0)


class AuditEntry(Base):
    """One link of the append-only hash chain; `at` and `details` are kept exactly as they were hashed."""

    __tablename__ = "audit"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(400))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the newest seq and hash. Appenders lock it, so concurrent writers cannot fork the chain."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class Job(Base):
    """Durable background work (training, batch prediction, ...), run by one worker at a time.

    A worker claims a queued job with a conditional UPDATE and holds it under a lease (`lease_token`,
    `lease_until`) that it renews; every write a running job makes names its token, so a worker that lost
    the lease cannot change the row. `checkpoint` is what an attempt committed, for the next one to resume.
    """

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), index=True)
    params: Mapped[dict[str, Any]] = mapped_column()
    checkpoint: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    progress_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    progress_unit: Mapped[str] = mapped_column(String(20), default="")
    progress_rate: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lost: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    worker_key: Mapped[str | None] = mapped_column(String(200))
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column()
    cancel_requested_at: Mapped[datetime | None] = mapped_column()
    cancelled_by: Mapped[str | None] = mapped_column(String(200))
    log_lines: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200), default="")


class JobLogLine(Base):
    """A job's log, append-only; `seq` numbers a job's lines from 1 so readers can ask for what is new."""

    __tablename__ = "job_log"
    __table_args__ = (UniqueConstraint("job_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    line: Mapped[str] = mapped_column(Text)


class RetrainPolicy(Base):
    """When and how a model retrains itself: the watched dataset, the trigger, the gate a candidate must
    pass, and how it rolls out. `last_seen_dataset_version_id` and `next_fire_at` are what the watchers
    advance (in the same transaction as the firing they record), so a trigger fires once."""

    __tablename__ = "retrain_policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), unique=True)
    dataset: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(20))
    schedule: Mapped[str | None] = mapped_column(String(200))
    gate: Mapped[str] = mapped_column(Text)
    canary_percent: Mapped[float | None] = mapped_column(Float)
    canary_seconds: Mapped[float | None] = mapped_column(Float)
    replay: Mapped[float] = mapped_column(Float)
    epochs: Mapped[int] = mapped_column(Integer)
    lr: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seen_dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    next_fire_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    alert_when: Mapped[list[Any] | None] = mapped_column(JSON)  # the alert rules of a drift/accuracy trigger


class RetrainFiring(Base):
    """One firing of a retrain policy and everything that followed: the job, the gate's verdict, the
    candidate and its canary. `dedupe` is unique (policy + dataset version, or + schedule tick), which is
    what makes a trigger fire exactly once however many watchers see it. Kept when the policy goes."""

    __tablename__ = "retrain_firings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    dedupe: Mapped[str] = mapped_column(String(300), unique=True)
    trigger: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column()
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    job_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(20), index=True)
    detail: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    candidate_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    deployments: Mapped[list[Any]] = mapped_column(default=list)
    canary_until: Mapped[datetime | None] = mapped_column()
    claimed_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class Webhook(Base):
    """A URL that receives signed platform events (events/). `events` empty: every type. `secret` is sealed
    under the master key `secret_key_id` where one is configured, else plaintext (it must be usable to
    sign). `after_seq`: the ledger head at creation, so a new webhook never hears older events."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]] = mapped_column(default=list)
    secret: Mapped[str] = mapped_column(Text)
    secret_key_id: Mapped[str | None] = mapped_column(String(32))
    after_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class WebhookDelivery(Base):
    """One event owed to one webhook, and how sending it went. A sender claims it with a conditional UPDATE
    (`lease_token`, `lease_until`) like a job, so two servers on one database never send it twice at once.
    `event_seq` is the ledger entry (None for a ping); `body` the exact JSON that is signed and sent."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "event_seq"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event_seq: Mapped[int | None] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventCursor(Base):
    """One row: the newest ledger seq already fanned out into deliveries (advanced by a conditional UPDATE,
    so of two servers exactly one fans out each entry)."""

    __tablename__ = "event_cursor"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class MonitorWindow(Base):
    """What the monitor job found for one served version over one window of its prediction log: the flat
    metrics alerts read and /metrics exports (`metrics`), and the per-feature drift detail (`report`)."""

    __tablename__ = "monitor_windows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(260))
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column(index=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)


class MonitorSchedule(Base):
    """When a deployment's next monitor job is due; a scheduler claims it with a conditional UPDATE, so of
    several servers on one database exactly one queues each job."""

    __tablename__ = "monitor_schedule"
    deployment: Mapped[str] = mapped_column(String(200), primary_key=True)
    next_at: Mapped[datetime] = mapped_column()
    job_id: Mapped[str | None] = mapped_column(String(32))


class Feedback(Base):
    """Ground truth for one logged prediction row (monitoring/feedback.py): a class name (`label`) or a
    number (`value`). Labelling a row again replaces its label (an upsert on the unique key)."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("deployment", "request_id", "row", name="uq_feedback_row"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str] = mapped_column(String(200))
    row: Mapped[int] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    key_id: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AlertRule(Base):
    """An alert rule of one deployment (monitoring/alert_rules.py) and where it stands: `breaches` in a row,
    `state` ok | firing, the `episode` while firing, and the monitor window it last counted
    (`last_window_end`), which a conditional UPDATE advances so two monitor jobs never count one window
    twice. `origin`: "user", or "retrain:<model>" for a rule a drift / accuracy-drop policy owns."""

    __tablename__ = "alert_rules"
    __table_args__ = (UniqueConstraint("deployment", "origin", "text"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(200), index=True)
    text: Mapped[str] = mapped_column(Text)
    for_windows: Mapped[int] = mapped_column(Integer, default=1)
    origin: Mapped[str] = mapped_column(String(220), default="user")
    breaches: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="ok")
    episode: Mapped[str | None] = mapped_column(String(32))
    last_window_end: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class AlertHistory(Base):
    """A rule firing or resolving: kept when the rule goes (its text is copied)."""

    __tablename__ = "alert_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(Integer, index=True)
    deployment: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str | None] = mapped_column(String(250))
    rule: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    episode: Mapped[str] = mapped_column(String(32), index=True)
    window_end: Mapped[datetime] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """A browser signed in to the console (console/sessions.py): found by sha256 of its cookie, so the
    table holds no usable secret; `key_id` None is the anonymous admin of a server with auth off."""

    __tablename__ = "console_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str | None] = mapped_column(String(32))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
