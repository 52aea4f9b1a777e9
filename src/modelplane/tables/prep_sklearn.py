"""Fitting the preprocessing with scikit-learn's transformers, and reading the fitted values out of them.

The fitted ColumnTransformer is the reference the ONNX graph is verified against; only its fitted values
(PrepParams) are kept with a model version, never the object (no pickle). It reads a pyarrow Table, so it
selects columns by name without pandas (pyarrow input needs scikit-learn >= 1.7).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from modelplane.errors import Invalid
from modelplane.tables.columns import Column
from modelplane.tables.datetime_parts import datetime_parts
from modelplane.tables.prep_params import (
    MISSING_CATEGORY,
    CategoricalParams,
    DatetimeParams,
    NumericParams,
    PrepOptions,
    PrepParams,
    is_none,
)

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer


def fit(
    arrays: dict[str, np.ndarray], n_rows: int, columns: Sequence[Column], options: PrepOptions
) -> tuple[ColumnTransformer, PrepParams, np.ndarray]:
    """Fit on the training rows (already read by prep_params.read_values); return the fitted transformer,
    its values and the training rows' features (fitting computes them anyway)."""
    if n_rows == 0:
        raise Invalid(
            "there are no training rows to fit the preprocessing on; the training split is empty: "
            "add rows to the dataset or change the split"
        )
    for column in columns:
        _check_training_column(column, arrays[column.name])
    references = [float(np.nanmin(arrays[c.name])) for c in columns if c.role == "datetime"]
    transformer = _column_transformer(columns, options, arrays, references)
    table = to_table(arrays, columns)
    features = np.asarray(transformer.fit_transform(table), dtype=np.float32)
    params = _params(transformer, columns, options, references)
    first_row = to_table({name: array[:1] for name, array in arrays.items()}, columns)
    width = reference_transform(transformer, first_row).shape[1]
    if width != len(params.feature_names()):
        raise RuntimeError(
            f"scikit-learn's pipeline makes {width} features but its fitted values describe "
            f"{len(params.feature_names())}; this is a modelplane bug, report it"
        )
    return transformer, params, features


def to_table(arrays: dict[str, np.ndarray], columns: Sequence[Column]) -> pa.Table:
    return pa.table(
        {
            c.name: pa.array(arrays[c.name], type=pa.string() if c.role == "categorical" else pa.float64())
            for c in columns
        }
    )


def reference_transform(transformer: ColumnTransformer, table: pa.Table) -> np.ndarray:
    with warnings.catch_warnings():
        # One-hot encoding without a rare-category bucket warns that it encodes unseen values as all zeros:
        # that is the design.
        warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)
        return np.asarray(transformer.transform(table), dtype=np.float32)


def _check_training_column(column: Column, array: np.ndarray) -> None:
    missing = is_none(array) if column.role == "categorical" else np.isnan(array)
    if missing.all():
        raise Invalid(
            f"column {column.name!r} has no values in the {len(array)} training rows, so nothing can be "
            "learnt from it; it should have been dropped at ingest: drop the column (or give it role 'id')"
        )
    if column.role == "categorical":
        return
    if np.isinf(array).any():
        raise Invalid(
            f"column {column.name!r} holds infinite values; replace them with finite ones or NaN (missing)"
        )
    if column.role == "boolean" and not np.isin(array[~missing], (0.0, 1.0)).all():
        raise Invalid(f"column {column.name!r} is boolean but holds values other than 0, 1 and NaN")


def _column_transformer(
    columns: Sequence[Column], options: PrepOptions, arrays: dict[str, np.ndarray], references: list[float]
) -> ColumnTransformer:
    """Steps in the order the ONNX graph makes features, so neither side reorders them."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    def names(*roles: str) -> list[str]:
        return [c.name for c in columns if c.role in roles]

    def indicator(step: str, chosen: list[str]) -> None:
        if options.missing_indicator and chosen:
            steps.append((step, MissingIndicator(features="missing-only", error_on_new=False), chosen))

    steps: list[tuple[str, Any, list[str]]] = []
    # Numeric and boolean columns keep their column order (the graph imputes them as one block): one imputer
    # per run of columns with the same role.
    numeric = [c for c in columns if c.role in ("numeric", "boolean")]
    for start, run in _runs(numeric):
        if run[0].role == "numeric":
            fill = options.numeric_fill if options.numeric_impute == "constant" else None
            imputer = SimpleImputer(strategy=options.numeric_impute, fill_value=fill)
        else:
            imputer = SimpleImputer(strategy="most_frequent")
        steps.append((f"{run[0].role}{start}", imputer, [c.name for c in run]))
    indicator("numeric_missing", names("numeric", "boolean"))
    for i, name in enumerate(names("categorical")):
        imputer = SimpleImputer(
            missing_values=None, strategy=options.categorical_impute, fill_value=MISSING_CATEGORY
        )
        encoder = _encoder(options, arrays[name])
        # Fixed-width text: scikit-learn finds and encodes categories of a "<U" array with numpy's sorting,
        # where an object array takes a Python loop per value (~6x slower on 1 M rows).
        text = FunctionTransformer(_fixed_width_text)
        steps.append(
            (f"categorical{i}", Pipeline([("impute", imputer), ("text", text), ("encode", encoder)]), [name])
        )
    if names("datetime"):
        parts = FunctionTransformer(datetime_parts, kw_args={"reference": references})
        pipeline = Pipeline([("impute", SimpleImputer(strategy="median")), ("parts", parts)])
        steps.append(("datetime", pipeline, names("datetime")))
    indicator("datetime_missing", names("datetime"))
    return ColumnTransformer(steps, remainder="drop", sparse_threshold=0.0)


def _fixed_width_text(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=str)


def _runs(columns: list[Column]) -> list[tuple[int, list[Column]]]:
    """Consecutive columns of one role, each with the index of its first column."""
    runs: list[tuple[int, list[Column]]] = []
    for i, column in enumerate(columns):
        if runs and runs[-1][1][-1].role == column.role:
            runs[-1][1].append(column)
        else:
            runs.append((i, [column]))
    return runs


def _encoder(options: PrepOptions, array: np.ndarray) -> Any:
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    if options.encoding == "onehot":
        return OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=options.max_categories, sparse_output=False
        )
    # An unseen value takes the code after the kept categories, the same code scikit-learn gives the rare
    # ones, so both fall in one unknown bucket as with one-hot encoding; that code must be set before fit.
    return OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=_kept_count(options, array),
        max_categories=options.max_categories,
    )


def _kept_count(options: PrepOptions, array: np.ndarray) -> int:
    """How many categories scikit-learn keeps for this column: all when there are fewer than max_categories,
    else the max_categories - 1 most frequent (it groups from max_categories on, whose output width is the
    same either way)."""
    missing = is_none(array)
    distinct = set(array[~missing])
    if options.categorical_impute == "constant" and missing.any():
        distinct.add(MISSING_CATEGORY)
    return len(distinct) if len(distinct) < options.max_categories else options.max_categories - 1


def _params(
    transformer: ColumnTransformer, columns: Sequence[Column], options: PrepOptions, references: list[float]
) -> PrepParams:
    fitted = transformer.named_transformers_
    numeric = [c for c in columns if c.role in ("numeric", "boolean")]
    fills = [float(v) for start, run in _runs(numeric) for v in fitted[f"{run[0].role}{start}"].statistics_]
    flagged = _flagged(fitted.get("numeric_missing"))
    datetime = [c.name for c in columns if c.role == "datetime"]
    dt_fills = fitted["datetime"]["impute"].statistics_ if datetime else []
    dt_flagged = _flagged(fitted.get("datetime_missing"))
    categorical = [c.name for c in columns if c.role == "categorical"]
    return PrepParams(
        columns=tuple(columns),
        options=options,
        numeric=tuple(
            NumericParams(c.name, c.role, fill, k in flagged)
            for k, (c, fill) in enumerate(zip(numeric, fills, strict=True))
        ),
        categorical=tuple(
            _categories(fitted[f"categorical{i}"], name, options) for i, name in enumerate(categorical)
        ),
        datetime=tuple(
            DatetimeParams(name, float(fill), reference, k in dt_flagged)
            for k, (name, fill, reference) in enumerate(zip(datetime, dt_fills, references, strict=True))
        ),
    )


def _flagged(indicator: Any) -> set[int]:
    """Which of a step's columns got a missing indicator (those with a missing value in the training rows)."""
    return set() if indicator is None else {int(k) for k in indicator.features_}


def _categories(pipeline: Any, name: str, options: PrepOptions) -> CategoricalParams:
    encoder = pipeline["encode"]
    infrequent = encoder.infrequent_categories_[0]
    rare = set() if infrequent is None else set(infrequent)
    kept = tuple(str(v) for v in encoder.categories_[0] if v not in rare)
    if options.encoding == "ordinal" and encoder.unknown_value != len(kept):
        raise RuntimeError(
            f"scikit-learn kept {len(kept)} categories of column {name!r}, not the {encoder.unknown_value} "
            "modelplane expected; this is a modelplane bug, report it"
        )
    return CategoricalParams(name, str(pipeline["impute"].statistics_[0]), kept, infrequent is not None)
