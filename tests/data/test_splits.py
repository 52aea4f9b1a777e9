from __future__ import annotations

import numpy as np
import pytest

from modelplane.data.splits import SplitConfig, split_indices
from modelplane.errors import Invalid
from modelplane.validation import validated


def test_split_is_deterministic_disjoint_and_complete() -> None:
    y = np.repeat(np.arange(3), 100)
    a = split_indices(y, SplitConfig(seed=7), stratify=True)
    b = split_indices(y, SplitConfig(seed=7), stratify=True)
    for name in a:
        assert np.array_equal(a[name], b[name])
    merged = np.concatenate(list(a.values()))
    assert sorted(merged.tolist()) == list(range(300))
    assert (len(a["train"]), len(a["validation"]), len(a["test"])) == (210, 45, 45)


def test_split_is_stratified_and_seed_changes_it() -> None:
    y = np.array([0] * 900 + [1] * 100)
    parts = split_indices(y, SplitConfig(seed=0), stratify=True)
    for idx in parts.values():
        assert abs(y[idx].mean() - 0.1) < 0.01
    other = split_indices(y, SplitConfig(seed=1), stratify=True)
    assert not np.array_equal(parts["test"], other["test"])


def test_appending_rows_keeps_most_old_rows_in_their_split() -> None:
    y = np.repeat(np.arange(2), 500)
    before = split_indices(y, SplitConfig(), stratify=False)
    after = split_indices(np.concatenate([y, np.repeat(np.arange(2), 50)]), SplitConfig(), stratify=False)
    kept = len(np.intersect1d(before["test"], after["test"]))
    assert kept >= 0.9 * len(before["test"])


def test_too_small_to_split() -> None:
    with pytest.raises(Invalid, match="at least 10"):
        split_indices(np.arange(5), SplitConfig(), stratify=False)


def test_fractions_must_add_up() -> None:
    with pytest.raises(Invalid, match="add up to 1"):
        validated(SplitConfig, {"train": 0.8, "validation": 0.3, "test": 0.1}, "split")
