"""Predict through a deployment without a server: the same runtimes and ensemble rules, in-process."""

from __future__ import annotations

import numpy as np

from modelplane.data.sources import open_source
from modelplane.errors import Invalid
from modelplane.registry.loading import load_runtime
from modelplane.serving.deployments import get_deployment, resolve
from modelplane.serving.routing import combine
from modelplane.store import Store


def read_rows(source: str) -> np.ndarray:
    """Feature rows from a CSV/Parquet/NPZ file (no target column)."""
    _, chunks = open_source(source, target=None)
    parts = [chunk.features for chunk in chunks]
    if not parts:
        raise Invalid(f"{source} holds no rows to predict")
    return np.concatenate(parts).astype(np.float32, copy=False)


def predict_offline(store: Store, deployment: str, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of the deployment's primary version (or its ensemble) for `rows`."""
    spec = get_deployment(store, deployment).spec
    resolved = resolve(store, spec)
    first = resolved.primary or resolved.members[0]
    if list(rows.shape[1:]) != first.input_shape:
        raise Invalid(
            f"deployment '{deployment}' takes rows of shape {first.input_shape}; the input has "
            f"{list(rows.shape[1:])}"
        )
    if resolved.primary is not None:
        return load_runtime(store, resolved.primary, spec.runtime).predict(rows)
    ensemble = spec.ensemble
    assert ensemble is not None
    outputs = [load_runtime(store, member, spec.runtime).predict(rows) for member in resolved.members]
    return combine(first.task, ensemble.combine, ensemble.weights or [1.0] * len(outputs), outputs)
