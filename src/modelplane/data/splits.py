"""Deterministic, seeded train/validation/test splits, stratified by class.

Each row gets a pseudo-random key from (seed, row index) alone, so a row keeps its key when rows are
appended; within each class rows are ranked by key and cut at the fractions. Same seed, same split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from modelplane.errors import Invalid

MIN_ROWS = 10
SPLITS = ("train", "validation", "test")


class SplitConfig(BaseModel):
    """Fractions of rows per split and the seed that fixes which rows go where."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    train: float = 0.7
    validation: float = 0.15
    test: float = 0.15
    seed: int = 0

    @model_validator(mode="after")
    def _fractions_add_up(self) -> SplitConfig:
        fractions = (self.train, self.validation, self.test)
        if any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(
                f"split fractions {fractions} must each be > 0 and add up to 1 (e.g. 0.7,0.15,0.15)"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def _row_keys(n: int, seed: int) -> np.ndarray:
    """splitmix64 of (seed, index): stable per row, independent of how many rows there are."""
    with np.errstate(over="ignore"):
        z = np.arange(n, dtype=np.uint64) + np.uint64(seed & 0xFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def split_indices(target: np.ndarray | None, config: SplitConfig, *, stratify: bool) -> dict[str, np.ndarray]:
    """Row indices per split (sorted), stratified by `target` classes when asked."""
    n = len(target) if target is not None else 0
    if n < MIN_ROWS:
        raise Invalid(
            f"the dataset has {n} rows; a train/validation/test split needs at least {MIN_ROWS} "
            "(add more rows)"
        )
    keys = _row_keys(n, config.seed)
    groups = (
        [np.arange(n)]
        if not stratify or target is None
        else [np.flatnonzero(target == c) for c in np.unique(np.asarray(target))]
    )
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for rows in groups:
        ordered = rows[np.argsort(keys[rows], kind="stable")]
        n_train = round(len(ordered) * config.train)
        n_val = round(len(ordered) * config.validation)
        parts["train"].append(ordered[:n_train])
        parts["validation"].append(ordered[n_train : n_train + n_val])
        parts["test"].append(ordered[n_train + n_val :])
    result = {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}
    empty = [name for name, idx in result.items() if len(idx) == 0]
    if empty:
        raise Invalid(
            f"the dataset has {n} rows, too few for a non-empty {' and '.join(empty)} split; "
            "add more rows or change the split fractions"
        )
    return result
