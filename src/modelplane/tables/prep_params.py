"""What a fitted preprocessing is, as plain data: options, fitted values per column, the feature layout, JSON.

Everything the ONNX graph needs comes from here, so a pipeline read back from a model version's JSON builds
the same graph as the one just fitted. The JSON is exact (floats are written with repr, which round-trips)
and versioned by ``"format"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

import numpy as np

from modelplane.errors import Invalid
from modelplane.tables.columns import Column, Role
from modelplane.tables.datetime_parts import PARTS

FORMAT = 1
MISSING_CATEGORY = "<missing>"
UNKNOWN_CATEGORY = "<unknown>"

NumericImpute = Literal["median", "mean", "constant"]
CategoricalImpute = Literal["most_frequent", "constant"]
Encoding = Literal["onehot", "ordinal"]


@dataclass(frozen=True)
class PrepOptions:
    """How missing values are filled and categories encoded; booleans take their most frequent value and
    datetimes their median, whatever these say."""

    numeric_impute: NumericImpute = "median"
    numeric_fill: float = 0.0  # the value for numeric_impute="constant"
    # "constant": a missing category is a category of its own, "<missing>".
    categorical_impute: CategoricalImpute = "constant"
    # One 0/1 feature per numeric, boolean or datetime column that had missing values in the training rows.
    missing_indicator: bool = True
    encoding: Encoding = "onehot"
    # The most frequent categories are kept, at most this many features per column counting the unknown
    # bucket; the rest, and values never seen in training, fall in that bucket.
    max_categories: int = 100

    def __post_init__(self) -> None:
        _choice("numeric_impute", self.numeric_impute, get_args(NumericImpute))
        _choice("categorical_impute", self.categorical_impute, get_args(CategoricalImpute))
        _choice("encoding", self.encoding, get_args(Encoding))
        if isinstance(self.numeric_fill, bool) or not isinstance(self.numeric_fill, (int, float)):
            raise Invalid(f"numeric_fill must be a number, got {self.numeric_fill!r}")
        if not math.isfinite(self.numeric_fill):
            raise Invalid(f"numeric_fill must be finite, got {self.numeric_fill}")
        object.__setattr__(self, "numeric_fill", float(self.numeric_fill))
        if not isinstance(self.missing_indicator, bool):
            raise Invalid(f"missing_indicator must be true or false, got {self.missing_indicator!r}")
        if isinstance(self.max_categories, bool) or not isinstance(self.max_categories, int):
            raise Invalid(f"max_categories must be an integer, got {self.max_categories!r}")
        if self.max_categories < 2:
            raise Invalid(
                f"max_categories must be at least 2 (one kept category and the unknown bucket), "
                f"got {self.max_categories}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrepOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise Invalid(f"unknown preprocessing options {unknown}; the options are {sorted(known)}")
        return cls(**data)


def _choice(name: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise Invalid(f"{name} must be one of {', '.join(choices)}; got {value!r}")


@dataclass(frozen=True)
class NumericParams:
    """A numeric or boolean column: the value that replaces a missing one, and whether it has an indicator."""

    column: str
    role: Role
    fill: float
    indicator: bool


@dataclass(frozen=True)
class CategoricalParams:
    """A categorical column: what a missing value becomes, the kept categories in encoder order, and whether
    rare categories were grouped at fit (then one-hot encoding has an ``=<unknown>`` feature; otherwise a
    value outside `categories` is all zeros)."""

    column: str
    fill: str
    categories: tuple[str, ...]
    bucket: bool


@dataclass(frozen=True)
class DatetimeParams:
    """A datetime column: the median that replaces a missing value, the reference of elapsed days (the
    earliest training value), and whether it has an indicator."""

    column: str
    fill: float
    reference: float
    indicator: bool


@dataclass(frozen=True)
class PrepParams:
    """The fitted preprocessing, all of it: the ONNX graph and the JSON are made from this alone."""

    columns: tuple[Column, ...]
    options: PrepOptions
    numeric: tuple[NumericParams, ...]  # numeric and boolean columns, in column order
    categorical: tuple[CategoricalParams, ...]
    datetime: tuple[DatetimeParams, ...]

    def feature_names(self) -> list[str]:
        """The output features, in the order both scikit-learn's ColumnTransformer and the ONNX graph make
        them: numeric and boolean values (column order), their missing indicators, each categorical column's
        encoding, the datetime parts (year, month, day_of_week, hour per column), elapsed days, and the
        datetime missing indicators."""
        names = [p.column for p in self.numeric]
        names += [f"{p.column}.missing" for p in self.numeric if p.indicator]
        for c in self.categorical:
            if self.options.encoding == "ordinal":
                names.append(c.column)
            else:
                names += [f"{c.column}={v}" for v in c.categories]
                names += [f"{c.column}={UNKNOWN_CATEGORY}"] if c.bucket else []
        names += [f"{d.column}.{part}" for d in self.datetime for part in PARTS[:4]]
        names += [f"{d.column}.{PARTS[4]}" for d in self.datetime]
        names += [f"{d.column}.missing" for d in self.datetime if d.indicator]
        return names

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "options": asdict(self.options),
            "columns": [c.to_dict() for c in self.columns],
            "numeric": [asdict(p) for p in self.numeric],
            "categorical": [{**asdict(p), "categories": list(p.categories)} for p in self.categorical],
            "datetime": [asdict(p) for p in self.datetime],
            "feature_names": self.feature_names(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PrepParams:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise Invalid(
                f"preprocessing JSON has format {found!r}; this modelplane reads format {FORMAT}: "
                "upgrade modelplane to read a newer pipeline, or fit it again"
            )
        try:
            params = cls(
                columns=tuple(Column.from_dict(c) for c in data["columns"]),
                options=PrepOptions.from_dict(data["options"]),
                numeric=tuple(
                    NumericParams(str(p["column"]), p["role"], float(p["fill"]), bool(p["indicator"]))
                    for p in data["numeric"]
                ),
                categorical=tuple(
                    CategoricalParams(
                        str(p["column"]), str(p["fill"]), tuple(map(str, p["categories"])), bool(p["bucket"])
                    )
                    for p in data["categorical"]
                ),
                datetime=tuple(
                    DatetimeParams(
                        str(p["column"]), float(p["fill"]), float(p["reference"]), bool(p["indicator"])
                    )
                    for p in data["datetime"]
                ),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise Invalid(
                f"preprocessing JSON is malformed ({type(e).__name__}: {e}); fit the pipeline again"
            ) from e
        params.check()
        if data.get("feature_names") != params.feature_names():
            raise Invalid(
                "preprocessing JSON lists feature names that its fitted values do not produce; "
                "the file was edited or damaged: fit the pipeline again"
            )
        return params

    def check(self) -> None:
        """The per-role parameters cover exactly the feature columns, in column order."""
        expect = {
            "numeric": [c.name for c in self.columns if c.role in ("numeric", "boolean")],
            "categorical": [c.name for c in self.columns if c.role == "categorical"],
            "datetime": [c.name for c in self.columns if c.role == "datetime"],
        }
        got = {
            "numeric": [p.column for p in self.numeric],
            "categorical": [p.column for p in self.categorical],
            "datetime": [p.column for p in self.datetime],
        }
        names = [c.name for c in self.columns]
        if expect != got or len(set(names)) != len(names) or any(c.role == "id" for c in self.columns):
            raise Invalid("preprocessing parameters do not match its feature columns; fit the pipeline again")
        roles = {c.name: c.role for c in self.columns}
        if any(roles[p.column] != p.role for p in self.numeric):
            raise Invalid("preprocessing parameters give a column another role; fit the pipeline again")
        values = [p.fill for p in self.numeric] + [v for d in self.datetime for v in (d.fill, d.reference)]
        if not all(math.isfinite(v) for v in values):
            raise Invalid("preprocessing parameters hold a non-finite fill value; fit the pipeline again")
        if any(len(set(c.categories)) != len(c.categories) or "" in c.categories for c in self.categorical):
            raise Invalid(
                "preprocessing categories repeat or include the empty string; fit the pipeline again"
            )


def read_values(values: Mapping[str, Any], columns: Sequence[Column]) -> tuple[int, dict[str, np.ndarray]]:
    """The rows' arrays for `columns`, checked: float64 for numeric, boolean and datetime columns (NaN for
    missing), object arrays of str for categorical ones with None for missing (an empty string is missing)."""
    arrays: dict[str, np.ndarray] = {}
    for column in columns:
        if column.name not in values:
            raise Invalid(
                f"the rows lack column {column.name!r} ({column.role}), which the preprocessing reads; "
                "pass every feature column the pipeline was fitted on"
            )
        array = np.asarray(values[column.name])
        if array.ndim != 1:
            raise Invalid(f"column {column.name!r} must be one value per row, got shape {array.shape}")
        arrays[column.name] = (
            _categorical(column, array) if column.role == "categorical" else _number(column, array)
        )
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) > 1:
        sizes = {name: len(a) for name, a in arrays.items()}
        raise Invalid(f"columns have different numbers of rows: {sizes}; pass whole rows")
    return (lengths.pop() if lengths else 0), arrays


def _number(column: Column, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "fiub":
        raise Invalid(
            f"column {column.name!r} is {column.role} and must hold numbers (NaN for missing"
            f"{', epoch seconds' if column.role == 'datetime' else ''}), got dtype {array.dtype}"
        )
    return array.astype(np.float64, copy=False)


def _categorical(column: Column, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind in "US":
        array = array.astype(object)
    elif array.dtype.kind != "O" or not set(map(type, array)) <= {str, type(None)}:  # map: C speed
        raise Invalid(
            f"column {column.name!r} is categorical and must hold strings (None for missing); "
            "convert its values to str at ingest"
        )
    missing = is_none(array) | np.equal(array, "")
    if missing.any():
        array = array.copy()
        array[missing] = None
    return array


def is_none(array: np.ndarray) -> np.ndarray:
    """Elementwise ``is None`` over an object array."""
    return np.equal(array, np.array(None, dtype=object))
