"""The features a datetime column becomes, computed with numpy: the scikit-learn side of the preprocessing.

From float64 epoch seconds (UTC): year, month (1-12), day of week (Monday = 0), hour (0-23) and elapsed days
since a reference fitted on the training rows. Year and month come from numpy's own calendar (datetime64),
not from the day arithmetic the ONNX graph does (tables/prep_onnx.py), so verifying one against the other
checks that arithmetic rather than repeating it. Days and hours are floors of the same float64 divisions
the graph makes, so both sides agree to the bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PARTS: tuple[str, ...] = ("year", "month", "day_of_week", "hour", "elapsed_days")
SECONDS_PER_DAY = 86400.0
SECONDS_PER_HOUR = 3600.0
# 1970-01-01 was a Thursday: day 0 is weekday 3 when Monday is 0.
EPOCH_WEEKDAY = 3


def datetime_parts(x: np.ndarray, reference: Sequence[float]) -> np.ndarray:
    """(n, d) epoch seconds without NaN -> (n, 5 d) float64: year, month, day_of_week and hour of column 0,
    then of column 1, ..., then the elapsed days of each column (the order the ONNX graph computes them in).

    `reference` holds one epoch-seconds value per column; elapsed days are ``(x - reference) / 86400``.
    """
    x = np.asarray(x, dtype=np.float64)
    days = np.floor(x / SECONDS_PER_DAY)
    hours = np.floor(x / SECONDS_PER_HOUR)
    calendar_day = days.astype(np.int64).astype("datetime64[D]")
    year = calendar_day.astype("datetime64[Y]").astype(np.int64) + 1970
    month = calendar_day.astype("datetime64[M]").astype(np.int64) % 12 + 1
    weekday = np.mod(days + EPOCH_WEEKDAY, 7.0)
    hour = hours - 24.0 * days
    elapsed = (x - np.asarray(reference, dtype=np.float64)) / SECONDS_PER_DAY
    calendar = np.stack([year, month, weekday, hour], axis=2).astype(np.float64).reshape(x.shape[0], -1)
    return np.concatenate([calendar, elapsed], axis=1)
