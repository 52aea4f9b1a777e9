"""Metrics against values worked out by hand on tiny examples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from modelplane.errors import Invalid
from modelplane.evaluation.metrics import classification_metrics, regression_metrics


def test_binary():
    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.6, 0.4, 0.8])
    m = classification_metrics(y, np.c_[1 - p1, p1].astype(np.float32), ["neg", "pos"])
    # predictions 0, 1, 0, 1: one hit per class
    assert m["accuracy"] == 0.5
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    assert m["per_class"]["pos"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    # positives {0.4, 0.8} vs negatives {0.1, 0.6}: 3 of 4 pairs ranked right
    assert m["roc_auc"] == pytest.approx(0.75)
    expected_loss = -(math.log(0.9) + math.log(0.4) + math.log(0.4) + math.log(0.8)) / 4
    assert m["log_loss"] == pytest.approx(expected_loss, rel=1e-6)
    json.dumps(m)


def test_multiclass_per_class_and_confusion():
    y = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 2, 0])
    proba = np.full((6, 3), 0.1)
    proba[np.arange(6), predicted] = 0.8
    m = classification_metrics(y, proba, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert m["per_class"]["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert m["per_class"]["b"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert m["per_class"]["c"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert m["precision_macro"] == pytest.approx(2 / 3)
    assert m["recall_macro"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert m["f1_macro"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert m["log_loss"] == pytest.approx(-(4 * math.log(0.8) + 2 * math.log(0.1)) / 6)
    assert 0.0 <= m["roc_auc"] <= 1.0
    assert all(type(v) is int for row in m["confusion_matrix"] for v in row)
    json.dumps(m)


def test_roc_auc_is_none_when_a_class_is_missing():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    m = classification_metrics(np.array([0, 1]), proba, ["a", "b", "c"])
    assert m["roc_auc"] is None
    assert m["per_class"]["c"]["support"] == 0


def test_classification_input_errors():
    with pytest.raises(Invalid, match="one name per column"):
        classification_metrics(np.array([0, 1]), np.full((2, 3), 1 / 3), ["a", "b"])
    with pytest.raises(Invalid, match="class indices"):
        classification_metrics(np.array([0, 5]), np.full((2, 2), 0.5), ["a", "b"])


def test_regression():
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([[1.0], [2.0], [3.0], [5.0]], np.float32))
    # one error of 1: SS_res = 1, SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert m == pytest.approx({"mse": 0.25, "rmse": 0.5, "mae": 0.25, "r2": 0.8})
    assert all(type(v) is float for v in m.values())
    assert regression_metrics(np.array([2.0]), np.array([1.0]))["r2"] is None
    with pytest.raises(Invalid, match="one prediction per target"):
        regression_metrics(np.zeros(3), np.zeros((3, 2)))
