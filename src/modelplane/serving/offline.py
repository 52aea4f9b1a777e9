"""Predict through a deployment without a server: the same runtimes, column matching and ensemble rules,
in-process. What a user sees is what the server answers: `label` as class names, `unknown` counted by the
server only (dropped here)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.data.formats import listing
from modelplane.data.inputs import inspect_input, read_chunks
from modelplane.errors import Invalid, Notice
from modelplane.registry.loading import load_runtime
from modelplane.registry.tables import model_columns
from modelplane.registry.views import ModelVersionInfo
from modelplane.serving.deployments import get_deployment, resolve
from modelplane.serving.loaded import UNKNOWN, class_count, read_table
from modelplane.serving.named import named_columns
from modelplane.serving.routing import combine
from modelplane.serving.tables import check_values, class_names, feed, rows_of
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
        _ignored(path.name, layout.ignored, strict)
    parts = [features for features, _ in read_chunks(path, layout, chunk_rows=65_536)]
    return np.concatenate(parts)


def _ignored(source: str, names: Sequence[str], strict: bool) -> None:
    """Columns of a file the model does not read: a `Notice`, or refused when `strict`."""
    what = f"{len(names)} column(s) of {source} the model does not read: {listing(list(names))}"
    if strict:
        raise Invalid(f"{what}; remove them, or leave out --strict to ignore them")
    warnings.warn(Notice(f"ignored {what}"), stacklevel=3)


def predict_offline(
    store: Store, deployment: str, rows: Any, *, strict: bool = False, source: str | None = None
) -> dict[str, np.ndarray]:
    """Outputs of the deployment's primary version (or its ensemble) for `rows`: named columns (rows as
    dicts, a dict of columns, a DataFrame), matched by name to the model's, or one array in its input
    shape. Columns it does not read are ignored with a `Notice` (refused when `strict`); `source` names
    the file they came from in that notice."""
    spec = get_deployment(store, deployment).spec
    resolved = resolve(store, spec)
    versions = [resolved.primary] if resolved.primary is not None else resolved.members
    first = versions[0]
    tables = [read_table(store, version) for version in versions]
    x = _batch(deployment, first, tables, rows, strict=strict, source=source)
    outputs = []
    for version, (table, takes_rows) in zip(versions, tables, strict=True):
        runtime = load_runtime(store, version, spec.runtime)
        found = runtime.predict(feed(x, table=table, takes_rows=takes_rows, input_shape=version.input_shape))
        found.pop(UNKNOWN, None)
        outputs.append(found)
    if resolved.primary is not None:
        answer = outputs[0]
    else:
        ensemble = spec.ensemble
        assert ensemble is not None
        answer = combine(first.task, ensemble.combine, ensemble.weights or [1.0] * len(outputs), outputs)
    if "label" in answer:
        answer["label"] = class_names(first.classes, class_count(first)).take(answer["label"])
    return answer


def _batch(
    deployment: str,
    first: ModelVersionInfo,
    tables: list[tuple[Any, bool]],
    rows: Any,
    *,
    strict: bool,
    source: str | None,
) -> np.ndarray:
    """`rows` as the deployment's batch: structured rows when some version reads them, else the matrix."""
    table = tables[0][0]
    takes_rows = any(reads for _, reads in tables)
    missing = table is not None and all(reads for _, reads in tables)
    if isinstance(rows, np.ndarray) and rows.dtype.names is not None:  # rows read raw from a file
        return rows
    columns = named_columns(rows)
    if columns is not None:
        if table is None:
            raise Invalid(
                f"deployment '{deployment}' reads one array of shape {first.input_shape}, not named "
                "columns; pass an array (or nested lists) of rows"
            )
        try:
            batch, ignored = rows_of(table, columns, strict=strict and source is None)
        except Invalid as exc:
            raise Invalid(f"{source}: {exc}") if source else exc from None
        if ignored:
            _ignored(source or "the rows", ignored, strict)
        check_values(table, batch, missing=missing, nonfinite="reject")
        return batch
    try:
        x = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise Invalid(
            f"rows must be numbers (an array or nested lists), rows as dicts, a dict of columns or a "
            f"DataFrame ({exc})"
        ) from None
    if takes_rows:
        assert table is not None
        return table.rows_from_matrix(x)
    if list(x.shape[1:]) != first.input_shape:
        raise Invalid(
            f"deployment '{deployment}' takes rows of shape {first.input_shape}; the input has "
            f"{list(x.shape[1:])}"
        )
    return x


def predict_file(
    store: Store, deployment: str, path: str | Path, *, strict: bool = False
) -> dict[str, np.ndarray]:
    """`predict_offline` on the rows of a file, read as batch prediction reads them: matched by name to
    the columns the model was trained on (a model with preprocessing reads them raw, converted by role as
    ingest stores them), else by count."""
    resolved = resolve(store, get_deployment(store, deployment).spec)
    first = resolved.primary or resolved.members[0]
    return predict_offline(
        store, deployment, read_rows(path, **model_columns(store, first.ref), strict=strict)
    )
