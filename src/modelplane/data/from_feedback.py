"""`data add NAME --from-feedback DEPLOYMENT [--since 7d]`: the logged predictions that have feedback become
a new version of dataset NAME, so a retrain learns from what production saw.

The rows are read the way the deployed model's training data was (its template): the same features, in
the same layout (an array dataset's feature shape and type; a table's columns, roles and stored types),
with the feedback's label (classifier, the training data's class order kept) or value as the target. When
NAME exists, the new version holds its latest version's rows, then the feedback rows (like `--append`), and
that version is the template. Features come from the log's `f:` columns (or its `input` column for a wide
tensor), matched by the template's names.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelplane.data.array_ingest import _ArraySpool, _parent_arrays
from modelplane.data.catalog import DatasetVersionInfo, get_version
from modelplane.data.ingest import IngestOptions, IngestResult, Opened, _latest, add_opened
from modelplane.data.sources import FEEDBACK_PREFIX, SourceSchema
from modelplane.data.table_ingest import _parent_tables
from modelplane.data.table_spool import TableSpool
from modelplane.errors import Invalid, NotFound
from modelplane.monitoring.frames import feature_names
from modelplane.monitoring.live import TRUE_LABEL, TRUE_VALUE, labelled_rows
from modelplane.monitoring.schema import FEATURE_PREFIX, WIDE_INPUT
from modelplane.monitoring.served import served
from modelplane.refs import check_name
from modelplane.store import Store

_DEFAULTS = IngestOptions()


def add_from_feedback(
    store: Store,
    name: str,
    deployment: str,
    *,
    since: timedelta | None = None,
    options: IngestOptions | None = None,
    by: str = "",
    on_rows: Callable[[int], None] | None = None,
) -> IngestResult:
    """A new version of `name` from `deployment`'s labelled predictions of the last `since` (None: all)."""
    check_name(name, "dataset")
    options = options or _DEFAULTS
    _refuse_reading_options(options)
    what = served(store, deployment)
    parent = _latest(store, name)
    template = parent or _trained_on(store, what.current, deployment)
    start = datetime.now(UTC) - since if since is not None else None
    _, joined = labelled_rows(store, store.settings.home, deployment, since=start, until=None)
    if joined.num_rows == 0:
        window = f" in the last {_span(since)}" if since is not None else ""
        raise Invalid(
            f"no logged prediction of {deployment} has feedback{window}; send labels first "
            f"(`modelplane monitor feedback {deployment} --from labels.csv`) or widen --since"
        )
    target = _target(joined, what.task)
    source = f"{FEEDBACK_PREFIX}{deployment}"
    if template.columns is None:
        opened = _arrays(store, template, parent, joined, target, options.chunk_rows)
    else:
        opened = _tables(store, template, parent, joined, target, options.chunk_rows)
    opened.task_hint = what.task
    opened.notices.append(f"{joined.num_rows:,} labelled predictions of {deployment}")
    # The template as the parent keeps the training data's class order even for a new dataset.
    append = IngestOptions(append=parent is not None, chunk_rows=options.chunk_rows)
    return add_opened(store, name, source, opened, append, template, by=by, on_rows=on_rows)


def _refuse_reading_options(options: IngestOptions) -> None:
    given = [
        flag
        for flag, value, default in (
            ("--target", options.target, None),
            ("--task", options.task, None),
            ("--append", options.append, False),
            ("--drop-na", options.drop_na, False),
            ("--drop/--ignore", options.drop_columns, ()),
            ("--image-size", options.image_size, None),
            ("--image-mode", options.image_mode, None),
        )
        if value != default
    ]
    if options.roles.declared():
        given.append("--categorical/--numeric/--boolean/--datetime/--id")
    if given:
        raise Invalid(
            f"{', '.join(given)} cannot be used with --from-feedback: the rows are read the way the "
            "deployed model's training data was; remove them"
        )


def _span(since: timedelta) -> str:
    seconds = since.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _trained_on(store: Store, current: dict[str, Any], deployment: str) -> DatasetVersionInfo:
    """The dataset version the deployment's model was trained on (its primary's, else its canary's)."""
    refs = [v.dataset for v in reversed(list(current.values())) if v.dataset]
    for ref in refs:
        try:
            return get_version(store, ref)
        except NotFound:
            continue
    raise Invalid(
        f"{deployment}'s model has no training dataset in the catalog to take the rows' layout from; "
        "add the feedback to an existing dataset of the same features (NAME of that dataset)"
    )


def _target(joined: pa.Table, task: str) -> np.ndarray:
    if task == "classification":
        return np.array(joined[TRUE_LABEL].to_pylist(), dtype=str)
    return joined[TRUE_VALUE].to_numpy(zero_copy_only=False).astype(np.float64)


def _logged(joined: pa.Table, name: str) -> pa.ChunkedArray | None:
    column = FEATURE_PREFIX + name
    return joined[column] if column in joined.column_names else None


def _matrix(joined: pa.Table, template: DatasetVersionInfo) -> np.ndarray:
    """The features as (rows, *feature_shape) of the template's type."""
    shape = tuple(int(d) for d in template.feature_shape)
    width = int(np.prod(shape))
    if WIDE_INPUT in joined.column_names:
        flat = joined[WIDE_INPUT].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        matrix = flat.reshape(joined.num_rows, -1)
    else:
        names = list(template.feature_names)
        missing = [n for n in names if _logged(joined, n) is None]
        if missing and all(_logged(joined, n) is not None for n in feature_names(width)):
            names, missing = feature_names(width), []  # a tensor model logs f0, f1, ... (monitoring/frames)
        if missing:
            raise Invalid(
                f"the prediction log has no feature column for {', '.join(missing[:5])}"
                f"{' and more' if len(missing) > 5 else ''}, which {template.ref} holds; the deployed "
                "model reads other features than this dataset"
            )
        matrix = np.column_stack([_logged(joined, n).to_numpy(zero_copy_only=False) for n in names])  # type: ignore[union-attr]
    if matrix.shape[1] != width:
        raise Invalid(
            f"the logged rows hold {matrix.shape[1]} values each, {template.ref} holds {width} per row; the "
            "deployed model reads other features than this dataset"
        )
    return matrix.reshape((len(matrix), *shape)).astype(np.dtype(template.feature_dtype))


def _arrays(
    store: Store,
    template: DatasetVersionInfo,
    parent: DatasetVersionInfo | None,
    joined: pa.Table,
    target: np.ndarray,
    chunk_rows: int,
) -> Opened:
    features = _matrix(joined, template)
    schema = SourceSchema(
        format=template.format,
        feature_names=list(template.feature_names),
        feature_shape=tuple(int(d) for d in template.feature_shape),
        feature_dtype=template.feature_dtype,
        target_name=template.target_name,
        image_shape=None,
        class_names=None,
        task_hint=None,
    )
    chunks: Iterator[tuple[Any, np.ndarray | None]] = iter([(features, target)])
    if parent is not None:
        chunks = itertools.chain(_parent_arrays(store, parent, chunk_rows), chunks)
    return Opened(
        format=template.format,
        described={
            "feature_names": list(template.feature_names),
            "feature_shape": [int(d) for d in template.feature_shape],
            "feature_dtype": template.feature_dtype,
            "target_name": template.target_name,
        },
        target_name=template.target_name,
        image_shape=list(template.image_shape) if template.image_shape else None,
        task_hint=None,
        chunks=chunks,
        spool=_ArraySpool(store, schema),
        compatible=True,
        ingest_options={"from_feedback": True},
    )


def _tables(
    store: Store,
    template: DatasetVersionInfo,
    parent: DatasetVersionInfo | None,
    joined: pa.Table,
    target: np.ndarray,
    chunk_rows: int,
) -> Opened:
    assert template.columns is not None
    path = store.artifacts.verified_path(template.features_sha)
    schema = pq.read_schema(path).remove_metadata()
    roles = {c.name: c.role for c in template.columns}
    arrays = []
    for field in schema:
        logged = _logged(joined, field.name)
        if logged is None:
            if roles.get(field.name) != "id":
                raise Invalid(
                    f"the prediction log has no column for feature '{field.name}' of {template.ref}; the "
                    "deployed model reads other features than this dataset"
                )
            arrays.append(pa.nulls(joined.num_rows, field.type))
            continue
        arrays.append(_cast(logged, field, template.ref))
    table = pa.Table.from_arrays(arrays, schema=schema)
    chunks: Iterator[tuple[Any, np.ndarray | None]] = iter([(table, target)])
    if parent is not None:
        chunks = itertools.chain(_parent_tables(store, parent, path, schema, chunk_rows), chunks)
    from modelplane.data.catalog import TABLE_DTYPE
    from modelplane.tables.columns import columns_to_json, feature_columns

    features = [c.name for c in feature_columns(template.columns)]
    return Opened(
        format=template.format,
        described={
            "feature_names": features,
            "feature_shape": [len(features)],
            "feature_dtype": TABLE_DTYPE,
            "target_name": template.target_name,
            "columns": columns_to_json(template.columns),
        },
        target_name=template.target_name,
        image_shape=None,
        task_hint=None,
        chunks=chunks,
        spool=TableSpool(store.artifacts.tmp_dir, list(template.columns), schema),
        compatible=True,
        ingest_options={**template.ingest_options, "from_feedback": True},
    )


def _cast(values: pa.ChunkedArray, field: pa.Field, ref: str) -> pa.Array:
    """A logged column (float32 numbers, text categories) as the template stores it."""
    try:
        if pa.types.is_timestamp(field.type) and pa.types.is_floating(values.type):  # logged as epoch seconds
            micros = pc.cast(pc.round(pc.multiply(values, 1_000_000.0)), pa.int64())
            return pc.cast(micros, pa.timestamp("us", tz=field.type.tz)).cast(field.type).combine_chunks()
        return values.cast(field.type).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise Invalid(
            f"the logged column '{field.name}' ({values.type}) cannot be stored as {ref} stores it "
            f"({field.type}): {exc}"
        ) from None
