"""Each drift statistic against scipy or a value worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from modelplane.monitoring import drift_tests as t


def test_ks_is_scipys_two_sample_test() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.4, 1, size=500)
    expected = ks_2samp(a, b)
    assert t.ks(a, b) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))


def test_chi2_is_the_two_sample_contingency_test() -> None:
    # [[10, 20], [20, 10]]: every expected count is 15, so chi2 = 4 * 5^2 / 15 = 6.667 on 1 degree of freedom
    statistic, p = t.chi2(np.array([10, 20]), np.array([20, 10]))
    assert statistic == pytest.approx(20 / 3)
    assert p == pytest.approx(chi2_contingency([[10, 20], [20, 10]], correction=False).pvalue)
    assert p == pytest.approx(0.00982, abs=1e-5)
    # a category neither side has is dropped rather than dividing by zero
    assert t.chi2(np.array([10, 0, 20]), np.array([20, 0, 10]))[0] == pytest.approx(20 / 3)


def test_wasserstein_matches_scipy_for_every_row_at_once() -> None:
    rng = np.random.default_rng(1)
    reference = np.sort(rng.normal(size=(3, 7)), axis=1)
    window = np.sort(np.round(rng.normal(1, 2, size=(3, 13))), axis=1)  # ties
    got = t.wasserstein_sorted(reference, window)
    for i in range(3):
        assert got[i] == pytest.approx(wasserstein_distance(reference[i], window[i]))
    # a pure shift of every value moves the distance by exactly the shift
    assert t.wasserstein_sorted(reference, reference + 0.5) == pytest.approx(np.full(3, 0.5))


def test_jensen_shannon_is_scipys_and_bounded_by_sqrt_ln2() -> None:
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
    assert t.js_distance(p, q) == pytest.approx(jensenshannon(p, q))
    assert t.js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(math.sqrt(math.log(2)))


def test_psi_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.1733 + 0.1014
    assert t.psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(0.2747, abs=1e-4)
    assert t.psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    # an empty bin counts as 1e-4, not log(0)
    assert np.isfinite(t.psi(np.array([1.0, 0.0]), np.array([0.5, 0.5])))


def test_bins_are_right_closed_with_open_ends() -> None:
    values = np.sort(np.array([-5.0, 1.0, 1.0, 2.0, 3.0, 9.0]))
    assert t.bin_frequencies(values, [1.0, 2.0]).tolist() == pytest.approx([3 / 6, 1 / 6, 2 / 6])


def test_default_tests_follow_the_reference_size() -> None:
    assert t.default_test("numeric", 1000) == "ks" and t.default_test("categorical", 1000) == "chi2"
    assert t.default_test("numeric", 1001) == "wasserstein"
    assert t.default_test("categorical", 1001) == "jensenshannon"


def test_std_floor_measures_a_near_constant_feature_against_its_range() -> None:
    assert t.std_floor(2.0, 0.0, 16.0) == 2.0
    assert t.std_floor(0.05, 0.0, 16.0) == pytest.approx(1.6)
    assert t.std_floor(0.0, 0.0, 0.0) == 1.0  # constant in training: its own units
    assert t.std_floor(0.0, 50.0, 50.0) == 5.0


@pytest.mark.parametrize("window_rows", [800, 30_000])
def test_ks_on_sorted_samples_is_scipys_at_any_size(window_rows: int) -> None:
    rng = np.random.default_rng(7)
    reference = np.sort(np.round(rng.normal(size=900), 1))  # ties on both sides
    window = np.sort(np.round(rng.normal(0.05, 1.1, size=window_rows), 1))
    expected = ks_2samp(reference, window)
    statistic, p = t.ks_sorted(reference, window)
    assert statistic == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue, rel=1e-6)
