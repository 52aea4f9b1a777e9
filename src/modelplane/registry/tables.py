"""What a registered version reads when it reads a table: its fitted preprocessing (the `preprocess`
artifact, JSON) and the named columns it takes (`TableSignature`).

A version trained before preprocessing existed, on a dataset whose columns have names, takes those
columns as numbers, matched by name like the others; a version trained on arrays has no signature."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.data.catalog import DatasetVersionInfo, load_arrays, load_table, table_values
from modelplane.data.inputs import trained_column_names
from modelplane.errors import Invalid
from modelplane.registry.integrity import version_bytes
from modelplane.registry.registry import get_version
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store
from modelplane.tables.columns import Column
from modelplane.tables.signature import TableSignature

if TYPE_CHECKING:
    from modelplane.tables.prep import Preprocessor

PREP_FORMAT = "preprocess"
# The names of the columns a version without preprocessing was trained on (JSON list), kept with the version
# where its dataset is not at hand: a version served from a package (modelplane.packaging).
COLUMNS_FORMAT = "columns"


def preprocessor_of(store: Store, info: ModelVersionInfo) -> Preprocessor | None:
    """The fitted preprocessing stored with `info` (verified bytes), or None for a version without one."""
    found = info.artifacts.get(PREP_FORMAT)
    if found is None:
        return None
    from modelplane.tables.prep import Preprocessor

    data = json.loads(version_bytes(store, info, PREP_FORMAT))
    return Preprocessor.from_json(data)


def inherited_files(store: Store, info: ModelVersionInfo) -> dict[str, bytes]:
    """The files a version made from `info` (retrained, compressed) keeps as they are: its preprocessing,
    which its weights read through (verified bytes; the new version shares the stored artifact)."""
    found = info.artifacts.get(PREP_FORMAT)
    return {PREP_FORMAT: version_bytes(store, info, PREP_FORMAT)} if found else {}


def signature_of(store: Store, info: ModelVersionInfo) -> TableSignature | None:
    """The named columns `info` takes, in training order; None for a model of arrays (images, NPZ)."""
    prep = preprocessor_of(store, info)
    if prep is not None:
        return TableSignature(tuple(prep.columns))
    names = trained_names(store, info)
    if names and len(names) == math.prod(info.input_shape):
        return TableSignature(tuple(Column(name, "numeric") for name in names))
    return None


def trained_names(store: Store, info: ModelVersionInfo) -> list[str] | None:
    """The column names `info` was trained on: its `columns` file where it has one, else its dataset's."""
    if COLUMNS_FORMAT in info.artifacts:
        names = json.loads(version_bytes(store, info, COLUMNS_FORMAT))
        return [str(name) for name in names]
    return trained_column_names(store, info.dataset)


def model_columns(store: Store, ref: str) -> dict[str, Any]:
    """How a file of rows to predict is checked against version `ref` (`data.inputs.inspect_input`'s
    keywords): by the names of its columns, read raw by role where it has preprocessing."""
    info = get_version(store, ref)
    prep = preprocessor_of(store, info)
    if prep is not None:
        return {
            "input_shape": [len(prep.columns)],
            "trained_names": [column.name for column in prep.columns],
            "roles": {column.name: column.role for column in prep.columns},
        }
    return {"input_shape": info.input_shape, "trained_names": trained_names(store, info)}


def model_inputs(
    store: Store, info: ModelVersionInfo, dataset: DatasetVersionInfo, *, encoded: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Every row of `dataset` as `info` reads it, and the target: for a version with preprocessing, rows
    of raw named columns (what its runtime takes) or, `encoded`, the features its preprocessing makes
    (what its weights read, for compression); else the dataset's arrays, which must have its input shape."""
    prep = preprocessor_of(store, info)
    if prep is None:
        if list(dataset.feature_shape) != info.input_shape:
            raise Invalid(
                f"{info.ref} takes inputs of shape {info.input_shape} but {dataset.ref} has "
                f"{dataset.feature_shape}; use the data it was trained on"
            )
        return load_arrays(store, dataset)
    names = {column.name for column in dataset.columns or []}
    missing = [column.name for column in prep.columns if column.name not in names]
    if missing:
        raise Invalid(
            f"{dataset.ref} lacks {len(missing)} column(s) {info.ref} reads ({', '.join(missing[:10])}); "
            "use data with the columns it was trained on"
        )
    table, target = load_table(store, dataset)
    values = table_values(table, prep.columns)
    rows = prep.transform(values) if encoded else TableSignature(tuple(prep.columns)).rows(values)
    return rows, target
