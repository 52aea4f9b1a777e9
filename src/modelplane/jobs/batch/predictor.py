"""A deployment's models as batch prediction runs them: the versions, runtimes and ensemble rules of
serving (the deployment's runtime; where it names none, ONNX Runtime when a version has its export),
pinned when the job is submitted so that every attempt of a job predicts with the same versions even if
an alias moves meanwhile."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from modelplane.registry.loading import load_runtime
from modelplane.registry.registry import get_version
from modelplane.serving.deployments import get_deployment, resolve
from modelplane.serving.routing import combine
from modelplane.store import Store


@dataclass(frozen=True)
class PinnedDeployment:
    name: str
    versions: list[str]  # exact NAME@VERSION refs: the primary, or the ensemble's members
    combine: str | None  # the ensemble rule, None for one model
    weights: list[float] | None
    task: str
    classes: list[str] | None
    input_shape: list[int]
    outputs: int  # classes, or values per regression prediction
    dataset: str | None  # what the first version was trained on (its column names)
    runtime: str | None = None  # the deployment's runtime choice (None: each version's default)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pin_deployment(store: Store, name: str) -> PinnedDeployment:
    """What `name` serves now, the way serving/offline.py resolves it (canary and shadow aside)."""
    spec = get_deployment(store, name).spec
    resolved = resolve(store, spec)
    versions = [resolved.primary] if resolved.primary is not None else resolved.members
    first = versions[0]
    ensemble = spec.ensemble if resolved.primary is None else None
    return PinnedDeployment(
        name=name,
        versions=[v.ref for v in versions],
        combine=ensemble.combine if ensemble else None,
        weights=(ensemble.weights or [1.0] * len(versions)) if ensemble else None,
        task=first.task,
        classes=first.classes,
        input_shape=first.input_shape,
        outputs=int(first.spec.get("num_outputs", len(first.classes or []) or 1)),
        dataset=first.dataset,
        runtime=spec.runtime,
    )


class Predictor:
    """Predicts rows in runtime calls of `batch_size` rows (large: per-call overhead amortised)."""

    def __init__(self, store: Store, pinned: PinnedDeployment, *, threads: int, batch_size: int) -> None:
        self.pinned = pinned
        self.batch_size = batch_size
        self.runtimes = [
            load_runtime(
                store, get_version(store, ref), pinned.runtime, threads=threads, memory_pattern=False
            )
            for ref in pinned.versions
        ]

    def describe(self) -> str:
        shown = [
            f"{ref} ({type(rt).__name__})"
            for ref, rt in zip(self.pinned.versions, self.runtimes, strict=True)
        ]
        rule = f" combined by {self.pinned.combine}" if self.pinned.combine else ""
        return ", ".join(shown) + rule

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        parts = [self._batch(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def _batch(self, x: np.ndarray) -> dict[str, np.ndarray]:
        outputs = [runtime.predict(x) for runtime in self.runtimes]
        if self.pinned.combine is None:
            return dict(outputs[0])
        assert self.pinned.weights is not None
        return combine(self.pinned.task, self.pinned.combine, self.pinned.weights, outputs)
