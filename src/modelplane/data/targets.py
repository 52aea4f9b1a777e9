"""Target column: collected while streaming, then typed (classification/regression) and encoded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelplane.data.npy import RowSpool
from modelplane.errors import Invalid
from modelplane.store.artifacts import ArtifactStore

MAX_INFERRED_CLASSES = 20
MAX_CLASSES = 10_000
_PASS_ROWS = 1 << 18


@dataclass
class EncodedTarget:
    task: str
    classes: list[str] | None
    sha256: str
    stats: dict[str, object]


def _label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class TargetCollector:
    """Spools raw target values chunk by chunk, remembering what is needed to choose a task."""

    def __init__(self, tmp_dir: Path, column: str) -> None:
        self._tmp_dir = tmp_dir
        self._column = column
        self._kind: str | None = None
        self._spool: RowSpool | None = None
        self._text_codes: dict[str, int] = {}
        self._uniques: set[float] = set()
        self._all_integer = True

    @property
    def rows(self) -> int:
        return self._spool.rows if self._spool else 0

    def add(self, values: np.ndarray, first_row: int) -> None:
        kind = "text" if values.dtype.kind in "US" else "number"
        if self._kind is None:
            self._kind = kind
            self._spool = RowSpool(self._tmp_dir, np.dtype(np.int64 if kind == "text" else np.float64), ())
        elif kind != self._kind:
            raise Invalid(
                f"target column '{self._column}' mixes numbers and text (rows from about {first_row} hold "
                f"{kind}, earlier rows held {self._kind}); make the column one type"
            )
        assert self._spool is not None
        if kind == "text":
            uniques, inverse = np.unique(values, return_inverse=True)
            codes = np.array([self._text_codes.setdefault(str(u), len(self._text_codes)) for u in uniques])
            if len(self._text_codes) > MAX_CLASSES:
                raise Invalid(
                    f"target column '{self._column}' has more than {MAX_CLASSES} distinct labels; "
                    "is it an identifier? pick another --target"
                )
            self._spool.append(codes[inverse])
        else:
            numbers = values.astype(np.float64, copy=False)
            if self._all_integer and not np.all(np.mod(numbers, 1) == 0):
                self._all_integer = False
            if len(self._uniques) <= MAX_CLASSES:
                self._uniques.update(np.unique(numbers).tolist())
            self._spool.append(numbers)

    def infer_task(self, hint: str | None) -> str:
        if hint is not None:
            return hint
        if self._kind == "text":
            return "classification"
        if self._all_integer and len(self._uniques) <= MAX_INFERRED_CLASSES:
            return "classification"
        return "regression"

    def encode(
        self, store: ArtifactStore, *, task: str, known_classes: Sequence[str] | None
    ) -> EncodedTarget:
        """Second pass over the spool: labels -> class indices (keeping `known_classes` first) or float32."""
        assert self._spool is not None
        if task == "regression":
            if self._kind == "text":
                raise Invalid(
                    f"target column '{self._column}' holds text, so it cannot be a regression "
                    "target; use --task classification or pick a numeric --target"
                )
            return self._publish_regression(store)
        if task != "classification":
            raise Invalid(f"unknown task {task!r}; use classification or regression")
        if self._kind == "number" and not self._all_integer:
            raise Invalid(
                f"target column '{self._column}' holds non-integer numbers, which are not class "
                "labels; use --task regression, or round/encode the labels"
            )
        if self._kind == "number" and len(self._uniques) > MAX_CLASSES:
            raise Invalid(
                f"target column '{self._column}' has more than {MAX_CLASSES} distinct values; "
                "use --task regression or pick another --target"
            )
        return self._publish_classes(store, list(known_classes or []))

    def _publish_regression(self, store: ArtifactStore) -> EncodedTarget:
        assert self._spool is not None
        total = 0.0
        total_sq = 0.0
        low, high = np.inf, -np.inf
        with RowSpool(self._tmp_dir, np.dtype(np.float32), ()) as out:
            for start in range(0, self._spool.rows, _PASS_ROWS):
                block = self._spool.read(start, min(start + _PASS_ROWS, self._spool.rows))
                total += float(block.sum())
                total_sq += float(np.square(block).sum())
                low, high = min(low, float(block.min())), max(high, float(block.max()))
                out.append(block)
            sha = out.publish(store)
        n = max(self._spool.rows, 1)
        mean = total / n
        stats: dict[str, object] = {
            "target_mean": mean,
            "target_std": max(total_sq / n - mean**2, 0.0) ** 0.5,
            "target_min": low,
            "target_max": high,
        }
        return EncodedTarget("regression", None, sha, stats)

    def _publish_classes(self, store: ArtifactStore, known: list[str]) -> EncodedTarget:
        assert self._spool is not None
        if self._kind == "text":
            seen = sorted(self._text_codes)
            raw_label_of_code = {code: label for label, code in self._text_codes.items()}
        else:
            seen = [_label(v) for v in sorted(self._uniques)]
        classes = known + [label for label in seen if label not in known]
        if len(classes) < 2:
            raise Invalid(
                f"target column '{self._column}' has one class ({classes[0]!r}, {self.rows:,} rows); a "
                "classifier needs at least two: add rows of another class, or pass --task regression "
                "for a numeric target"
            )
        index_of = {label: i for i, label in enumerate(classes)}
        if self._kind == "text":
            lookup = np.array(
                [index_of[raw_label_of_code[c]] for c in range(len(raw_label_of_code))], np.int64
            )
        else:
            sorted_values = np.array(sorted(self._uniques), dtype=np.float64)
            value_to_index = np.array([index_of[_label(v)] for v in sorted_values], np.int64)
        counts = np.zeros(len(classes), dtype=np.int64)
        with RowSpool(self._tmp_dir, np.dtype(np.int64), ()) as out:
            for start in range(0, self._spool.rows, _PASS_ROWS):
                block = self._spool.read(start, min(start + _PASS_ROWS, self._spool.rows))
                if self._kind == "text":
                    encoded = lookup[block]
                else:
                    encoded = value_to_index[np.searchsorted(sorted_values, block)]
                counts += np.bincount(encoded, minlength=len(classes))
                out.append(encoded)
            sha = out.publish(store)
        stats: dict[str, object] = {"class_counts": dict(zip(classes, counts.tolist(), strict=True))}
        return EncodedTarget("classification", classes, sha, stats)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
