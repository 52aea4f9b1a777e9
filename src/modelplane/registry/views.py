"""Registry records as users see them, detached from database sessions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from modelplane.models.frameworks import framework
from modelplane.runtimes.adapters import ONNX_FORMAT
from modelplane.store.orm import DatasetVersion, ModelVersion

# A version compressed to an ONNX-only graph (int8): its weights are that graph.
ONNX_FRAMEWORK = "onnx"


def weights_format(framework_name: str) -> str:
    """The artifact format of a version's native weights, as its framework adapter names it."""
    return ONNX_FORMAT if framework_name == ONNX_FRAMEWORK else framework(framework_name).weights_format


@dataclass(frozen=True)
class ArtifactInfo:
    """One file of a version in the artifact store."""

    sha256: str
    size: int


@dataclass(frozen=True)
class ModelVersionInfo:
    model: str
    version: int
    task: str
    framework: str
    kind: str
    spec: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, Any]
    classes: list[str] | None
    run_id: str | None
    dataset: str | None
    parent: str | None
    code_version: str | None
    artifacts: dict[str, ArtifactInfo]  # by format: "safetensors", "skops", "onnx", "torchscript", ...
    onnx_note: str | None
    aliases: list[str]
    created_at: datetime
    created_by: str
    signature: str | None = None  # Ed25519, of its manifest (registry/integrity.py); None: unsigned
    signing_key_id: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    @property
    def input_shape(self) -> list[int]:
        return list(self.spec["input_shape"])

    @property
    def weights_sha(self) -> str:
        return self.artifacts[weights_format(self.framework)].sha256

    @property
    def onnx_sha(self) -> str | None:
        """The ONNX graph that serves the version by default; None when its export failed (`onnx_note`)."""
        onnx = self.artifacts.get(ONNX_FORMAT)
        return onnx.sha256 if onnx else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        # The JSON has always named these two; scripts read them.
        data["weights_sha"], data["onnx_sha"] = self.weights_sha, self.onnx_sha
        return data


@dataclass(frozen=True)
class AliasMove:
    alias: str
    from_version: int | None
    to_version: int | None
    at: datetime
    by: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    task: str
    created_at: datetime
    aliases: dict[str, int]
    versions: list[ModelVersionInfo] = field(default_factory=list)
    alias_history: list[AliasMove] = field(default_factory=list)
    retention: dict[str, Any] | None = None  # {"keep_last": N, "keep_aliased": bool} where a policy is set

    @property
    def latest(self) -> ModelVersionInfo | None:
        return self.versions[-1] if self.versions else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "created_at": self.created_at.isoformat(),
            "aliases": self.aliases,
            "versions": [v.to_dict() for v in self.versions],
            "alias_history": [m.to_dict() for m in self.alias_history],
            "retention": self.retention,
        }


def version_view(session: Session, row: ModelVersion) -> ModelVersionInfo:
    dataset = session.get(DatasetVersion, row.dataset_version_id) if row.dataset_version_id else None
    parent = session.get(ModelVersion, row.parent_version_id) if row.parent_version_id else None
    return ModelVersionInfo(
        model=row.model.name,
        version=row.version,
        task=row.model.task,
        framework=row.framework,
        kind=row.kind,
        spec=dict(row.spec),
        params=dict(row.params),
        metrics=dict(row.metrics),
        classes=list(row.classes) if row.classes else None,
        run_id=row.run_id,
        dataset=f"{dataset.dataset.name}@{dataset.version}" if dataset else None,
        parent=f"{parent.model.name}@{parent.version}" if parent else None,
        code_version=row.code_version,
        artifacts={a.format: ArtifactInfo(a.sha256, a.size) for a in row.artifacts},
        onnx_note=row.onnx_note,
        aliases=sorted(a.name for a in row.model.aliases if a.version_id == row.id),
        created_at=row.created_at,
        created_by=row.created_by,
        signature=row.signature,
        signing_key_id=row.signing_key_id,
    )
