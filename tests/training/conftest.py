"""Digits (8x8 images, 10 classes) split 70/15/15 — small enough that a fit takes a fraction of a second."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

Split = tuple[np.ndarray, np.ndarray]


@pytest.fixture(scope="session")
def digits() -> tuple[Split, Split, Split]:
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order].astype(np.int64)
    a, b = int(0.7 * len(x)), int(0.85 * len(x))
    return (x[:a], y[:a]), (x[a:b], y[a:b]), (x[b:], y[b:])
