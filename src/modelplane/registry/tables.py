"""What a registered version reads when it reads a table: its fitted preprocessing (the `preprocess`
artifact, JSON) and the named columns it takes (`TableSignature`).

A version trained before preprocessing existed, on a dataset whose columns have names, takes those
columns as numbers, matched by name like the others; a version trained on arrays has no signature."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from modelplane.data.inputs import trained_column_names
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store
from modelplane.tables.columns import Column
from modelplane.tables.signature import TableSignature

if TYPE_CHECKING:
    from modelplane.tables.prep import Preprocessor

PREP_FORMAT = "preprocess"


def preprocessor_of(store: Store, info: ModelVersionInfo) -> Preprocessor | None:
    """The fitted preprocessing stored with `info` (verified bytes), or None for a version without one."""
    found = info.artifacts.get(PREP_FORMAT)
    if found is None:
        return None
    from modelplane.tables.prep import Preprocessor

    data = json.loads(store.artifacts.verified_path(found.sha256).read_text())
    return Preprocessor.from_json(data)


def signature_of(store: Store, info: ModelVersionInfo) -> TableSignature | None:
    """The named columns `info` takes, in training order; None for a model of arrays (images, NPZ)."""
    prep = preprocessor_of(store, info)
    if prep is not None:
        return TableSignature(tuple(prep.columns))
    names = trained_column_names(store, info.dataset)
    if names and len(names) == math.prod(info.input_shape):
        return TableSignature(tuple(Column(name, "numeric") for name in names))
    return None
