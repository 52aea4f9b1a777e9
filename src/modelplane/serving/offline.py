"""Predict through a deployment without a server: the same runtimes and ensemble rules, in-process."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from modelplane.data.formats import listing
from modelplane.data.inputs import inspect_input, read_chunks
from modelplane.errors import Invalid, Notice
from modelplane.registry.loading import load_runtime
from modelplane.registry.tables import model_columns
from modelplane.serving.deployments import get_deployment, resolve
from modelplane.serving.routing import combine
from modelplane.store import Store


def read_rows(
    path: str | Path,
    *,
    input_shape: Sequence[int],
    trained_names: Sequence[str] | None,
    roles: Mapping[str, str] | None = None,
    strict: bool = False,
) -> np.ndarray:
    """Feature rows of a .csv/.parquet/.npz file in the model's column order: matched by name to the
    columns the model was trained on (when it knows them), the batch reader's rules; columns the model does
    not read (the target, notes) are left out with a `Notice`, or refused when `strict`."""
    path = Path(path)
    layout = inspect_input(
        path, id_column=None, input_shape=input_shape, trained_names=trained_names, roles=roles
    )
    if layout.ignored:
        count, names = len(layout.ignored), listing(layout.ignored)
        what = f"{count} column(s) of {path.name} the model does not read: {names}"
        if strict:
            raise Invalid(f"{what}; remove them, or leave out --strict to ignore them")
        warnings.warn(Notice(f"ignored {what}"), stacklevel=2)
    parts = [features for features, _ in read_chunks(path, layout, chunk_rows=65_536)]
    return np.concatenate(parts)


def predict_offline(store: Store, deployment: str, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of the deployment's primary version (or its ensemble) for `rows`."""
    spec = get_deployment(store, deployment).spec
    resolved = resolve(store, spec)
    first = resolved.primary or resolved.members[0]
    if rows.dtype.names is None and list(rows.shape[1:]) != first.input_shape:
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


def predict_file(
    store: Store, deployment: str, path: str | Path, *, strict: bool = False
) -> dict[str, np.ndarray]:
    """`predict_offline` on the rows of a file, matched by name to what the deployment's model read."""
    resolved = resolve(store, get_deployment(store, deployment).spec)
    first = resolved.primary or resolved.members[0]
    rows = read_rows(path, **model_columns(store, first.ref), strict=strict)
    return predict_offline(store, deployment, rows)
