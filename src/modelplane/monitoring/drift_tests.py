"""The drift statistics, one function each, vectorised over features where scipy has no batch form.

Defaults follow Evidently's choice of test by reference size: at most `SMALL_REFERENCE` rows, two-sample
Kolmogorov-Smirnov (numeric) and chi-squared (categorical) p-values, drifted below 0.05; larger references,
Wasserstein distance over the reference standard deviation (numeric) and Jensen-Shannon distance
(categorical), drifted at or above 0.1. PSI is reported beside them on the reference's quantile bins.

Near-constant features: the Wasserstein distance is divided by `max(std, STD_FLOOR_SHARE * (max - min))`
of the reference, not by its std alone. A digits edge pixel that is 0 in 99.9 % of rows has a tiny std,
so the few non-zero values a window happens to hold would read as a large drift; the floor measures them
against the feature's range instead. A shift of half a std still scores >= 0.1 unless the std is below 2 %
of the range. A feature constant in training (a digits corner pixel, always 0) has no spread at all: it is
measured in its own units (scale 1, or 10 % of its value where that is larger), so one stray value in a
window is not drift but a tenth of the rows moving by one unit is; values outside the training range are
counted by the data-quality check either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, kstwo

SMALL_REFERENCE = 1000
DEFAULT_THRESHOLDS = {"ks": 0.05, "chi2": 0.05, "wasserstein": 0.1, "jensenshannon": 0.1}
KS_EXACT_ROWS = 10_000  # scipy.stats.ks_2samp uses its exact method up to this many rows per sample
STD_FLOOR_SHARE = 0.1
PSI_EPSILON = 1e-4  # an empty bin's share, so log(0) never happens (Evidently's value)


def default_test(kind: str, reference_rows: int) -> str:
    if reference_rows <= SMALL_REFERENCE:
        return "ks" if kind == "numeric" else "chi2"
    return "wasserstein" if kind == "numeric" else "jensenshannon"


def ks(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """(statistic, p-value) of scipy's two-sample Kolmogorov-Smirnov test."""
    result = ks_2samp(reference, window)
    return float(result.statistic), float(result.pvalue)


def ks_sorted(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """`ks` of two sorted, NaN-free samples, without re-sorting a large window: scipy's own exact test
    where it would use it (both samples <= 10,000 rows); beyond, the same statistic found at the
    reference's points alone (between two of them the reference CDF is flat and the window's rises, so
    the largest gap is at an end) and scipy's asymptotic p-value (kstwo), which is what ks_2samp does
    for samples that large."""
    n, m = len(reference), len(window)
    if max(n, m) <= KS_EXACT_ROWS:
        return ks(reference, window)
    at = np.searchsorted(window, reference, side="right") / m
    before = np.searchsorted(window, reference, side="left") / m
    own_at = np.searchsorted(reference, reference, side="right") / n
    own_before = np.searchsorted(reference, reference, side="left") / n
    d = float(max(np.max(np.abs(own_at - at)), np.max(np.abs(own_before - before))))
    big, small = max(n, m), min(n, m)
    return d, float(kstwo.sf(d, np.round(big * small / (big + small))))


def chi2(reference_counts: np.ndarray, window_counts: np.ndarray) -> tuple[float, float]:
    """(statistic, p-value) of the chi-squared test of homogeneity on the 2 x categories table (scipy's
    chi2_contingency): two samples, so the reference's own sampling noise is allowed for, unlike a
    goodness-of-fit test against its frequencies taken as exact."""
    table = np.stack([reference_counts, window_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def js_distance(reference_freq: np.ndarray, window_freq: np.ndarray) -> float:
    """scipy's Jensen-Shannon distance (natural log, so 0..sqrt(ln 2)) between two frequency vectors."""
    if window_freq.sum() <= 0 or reference_freq.sum() <= 0:
        return 0.0
    return float(jensenshannon(reference_freq, window_freq))


def psi(reference_freq: np.ndarray, window_freq: np.ndarray) -> float:
    """Population stability index: sum((w - r) * ln(w / r)) over bins, empty bins counted as 1e-4."""
    r = np.maximum(reference_freq / max(reference_freq.sum(), 1e-12), PSI_EPSILON)
    w = np.maximum(window_freq / max(window_freq.sum(), 1e-12), PSI_EPSILON)
    return float(np.sum((w - r) * np.log(w / r)))


def std_floor(std: float, low: float, high: float) -> float:
    """What a Wasserstein distance is divided by (see the module docstring)."""
    scale = max(std, STD_FLOOR_SHARE * (high - low))
    return scale if scale > 0 else max(1.0, STD_FLOOR_SHARE * abs(low))


def wasserstein_sorted(reference: np.ndarray, window: np.ndarray) -> np.ndarray:
    """The 1-D Wasserstein distance of each row of `reference` (k, n) to the same row of `window` (k, m),
    both sorted along axis 1 and free of NaN: the integral over t in (0, 1] of the gap between the two
    quantile functions. Exact (scipy.stats.wasserstein_distance's value), and for every feature in one
    gather, because the breakpoints i/n and j/m are the same for all of them."""
    n, m = reference.shape[1], window.shape[1]
    levels = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    widths = np.diff(levels, prepend=0.0)
    middle = levels - widths / 2
    iu = np.minimum((middle * n).astype(np.int64), n - 1)
    iv = np.minimum((middle * m).astype(np.int64), m - 1)
    gaps = np.take(reference.astype(np.float64, copy=False), iu, axis=1)
    gaps -= np.take(window, iv, axis=1)
    np.abs(gaps, out=gaps)
    result: np.ndarray = gaps @ widths
    return result


def bin_frequencies(sorted_values: np.ndarray, inner_edges: Sequence[float]) -> np.ndarray:
    """Share of (sorted, NaN-free) values in each bin (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    if len(sorted_values) == 0:
        return np.zeros(len(inner_edges) + 1)
    cuts = np.searchsorted(sorted_values, np.asarray(inner_edges, dtype=np.float64), side="right")
    counts = np.diff(np.concatenate([[0], cuts, [len(sorted_values)]]))
    result: np.ndarray = counts / len(sorted_values)
    return result
