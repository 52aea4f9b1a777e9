"""A table's columns and their roles: the one vocabulary ingest, preprocessing and serving share.

Roles say how a column becomes model features: `numeric` and `boolean` are numbers (imputed), `categorical`
is encoded (one-hot or ordinal, with an unknown bucket), `datetime` becomes its parts (year, month,
day-of-week, hour, elapsed days); `id` identifies a row and is never a feature.

In memory a column's values (`ColumnValues`) are one numpy array per column, by role:
numeric / boolean -> float64 with NaN for missing (booleans as 0.0 / 1.0), categorical -> object array of
`str` with None for missing, datetime -> float64 epoch seconds (UTC) with NaN for missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np

Role = Literal["numeric", "boolean", "categorical", "datetime", "id"]
ROLES: tuple[str, ...] = get_args(Role)
FEATURE_ROLES: tuple[str, ...] = ("numeric", "boolean", "categorical", "datetime")

ColumnValues = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Column:
    """One column of a table: its name in the file and its role."""

    name: str
    role: Role

    @property
    def is_feature(self) -> bool:
        return self.role != "id"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Column:
        role = data["role"]
        if role not in ROLES:
            raise ValueError(f"unknown column role {role!r}; roles are {', '.join(ROLES)}")
        return cls(name=str(data["name"]), role=role)


def feature_columns(columns: Sequence[Column]) -> list[Column]:
    """The columns a model reads, in table order (ids left out)."""
    return [column for column in columns if column.is_feature]


def columns_from_json(data: Sequence[Mapping[str, Any]] | None) -> list[Column] | None:
    return [Column.from_dict(item) for item in data] if data is not None else None


def columns_to_json(columns: Sequence[Column] | None) -> list[dict[str, Any]] | None:
    return [column.to_dict() for column in columns] if columns is not None else None
