"""scikit-learn forests and trees as one ``ai.onnx.ml`` TreeEnsembleRegressor node, built with numpy.

skl2onnx walks every node in Python (``add_node``, ~20 us each): a 200-tree forest with unlimited depth has
~2 M nodes and took 36 s to convert, over three times its fit. Here each attribute is one array op over the
concatenated ``tree_`` arrays, so Python loops over trees, not nodes (bench/forest_export.py: 12x faster).

Classifiers use the regressor op too, with one target per class: its output is the mean of the trees' leaf
class fractions, i.e. ``predict_proba``, and the contract's ``label`` is ArgMax of it, so nothing from
TreeEnsembleClassifier (class labels, its two-class special case) is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import AttributeProto

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.tree._tree import Tree

ML_DOMAIN = "ai.onnx.ml"
# TreeEnsembleRegressor as skl2onnx emits it for forests: float thresholds and weights, no *_as_tensor.
ML_OPSET = 1
_TREE_LEAF = -1  # sklearn.tree._tree.TREE_LEAF: children_left of a leaf


def is_tree_ensemble(estimator: object) -> bool:
    """Whether ``estimator`` is a fitted forest or tree this module converts (classifiers: single-output)."""
    from sklearn.base import is_classifier
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    kinds = (
        RandomForestClassifier,
        RandomForestRegressor,
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        DecisionTreeClassifier,  # ExtraTreeClassifier/Regressor subclass these two
        DecisionTreeRegressor,
    )
    if not isinstance(estimator, kinds) or not hasattr(estimator, "n_outputs_"):
        return False
    # A multi-output classifier has one classes_ array per output; the contract has one probability table.
    return not (is_classifier(estimator) and estimator.n_outputs_ != 1)


def add_tree_ensemble(
    graph: onnx.GraphProto, estimator: BaseEstimator, input_name: str, output_name: str
) -> int:
    """Append the node computing ``predict_proba`` (classifiers) or ``predict`` (regressors), float32 (N, k).

    Returns k (classes, or regression outputs). ``input_name`` must be the float32 features exactly as the
    estimator receives them. The node is filled in place: appending a finished one would copy it (~1 s for
    2 M nodes).
    """
    from sklearn.base import is_classifier

    if not is_tree_ensemble(estimator):
        raise TypeError(
            f"{type(estimator).__name__} is not a fitted single-output forest or decision tree; "
            "convert it with skl2onnx (check is_tree_ensemble first)"
        )
    trees: list[Tree] = [e.tree_ for e in getattr(estimator, "estimators_", [estimator])]
    counts = np.array([t.node_count for t in trees], dtype=np.int64)
    starts = np.cumsum(counts) - counts
    tree_ids = np.repeat(np.arange(len(trees), dtype=np.int64), counts)
    node_ids = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
    left = np.concatenate([t.children_left for t in trees])
    right = np.concatenate([t.children_right for t in trees])
    branch = left != _TREE_LEAF
    leaf = ~branch

    # value is (nodes, outputs, classes) for classifiers (class fractions, as stored by sklearn >= 1.4) and
    # (nodes, outputs, 1) for regressors; predict_proba/predict average it over the trees in float64.
    value = np.concatenate([t.value for t in trees])
    votes = value[:, 0, : len(estimator.classes_)] if is_classifier(estimator) else value[:, :, 0]
    weights = (votes[leaf] / len(trees)).astype(np.float32)
    # Zero votes are left out: a pure leaf of a C-class forest would otherwise carry C-1 of them.
    leaf_row, target = np.nonzero(weights)
    threshold = _leq_thresholds(np.concatenate([t.threshold for t in trees]))
    # sklearn sends NaN left where missing_go_to_left (set at every split, NaN seen in training or not).
    missing_left = np.concatenate([t.missing_go_to_left for t in trees]).astype(bool)

    node = graph.node.add(
        op_type="TreeEnsembleRegressor", domain=ML_DOMAIN, input=[input_name], output=[output_name]
    )
    _ints(node, "nodes_treeids", tree_ids)
    _ints(node, "nodes_nodeids", node_ids)
    _ints(node, "nodes_featureids", np.where(branch, np.concatenate([t.feature for t in trees]), 0))
    modes = node.attribute.add(name="nodes_modes", type=AttributeProto.STRINGS)
    modes.strings.extend(np.array([b"LEAF", b"BRANCH_LEQ"], dtype=object)[branch.astype(np.intp)].tolist())
    _floats(node, "nodes_values", np.where(branch, threshold, 0))
    _ints(node, "nodes_truenodeids", np.where(branch, left, 0))
    _ints(node, "nodes_falsenodeids", np.where(branch, right, 0))
    _ints(node, "nodes_missing_value_tracks_true", branch & missing_left)
    _ints(node, "target_treeids", tree_ids[leaf][leaf_row])
    _ints(node, "target_nodeids", node_ids[leaf][leaf_row])
    _ints(node, "target_ids", target)
    _floats(node, "target_weights", weights[leaf_row, target])
    node.attribute.add(name="n_targets", type=AttributeProto.INT, i=weights.shape[1])
    node.attribute.add(name="aggregate_function", type=AttributeProto.STRING, s=b"SUM")
    node.attribute.add(name="post_transform", type=AttributeProto.STRING, s=b"NONE")
    return weights.shape[1]


def _leq_thresholds(threshold: np.ndarray) -> np.ndarray:
    """float32 ``w`` with ``x <= w`` exactly when sklearn's ``float64(x) <= threshold``, for every float32 x.

    sklearn casts X to float32 and compares it to float64 thresholds (midpoints between float32 values); the
    op compares float32 to float32. The largest float32 not above the threshold answers alike for every
    float32 x; rounding to nearest can land just above the threshold, on a value sklearn sends right and the
    op would send left (skl2onnx's ``sklearn_threshold`` rounds down too, node by node).
    """
    nearest = threshold.astype(np.float32)
    above = nearest.astype(np.float64) > threshold
    return np.where(above, np.nextafter(nearest, np.float32(-np.inf)), nearest)


def _ints(node: onnx.NodeProto, name: str, values: np.ndarray) -> None:
    # helper.make_attribute checks each element's type in Python: seconds for millions of nodes.
    attribute = node.attribute.add(name=name, type=AttributeProto.INTS)
    attribute.ints.extend(np.asarray(values, dtype=np.int64).tolist())


def _floats(node: onnx.NodeProto, name: str, values: np.ndarray) -> None:
    attribute = node.attribute.add(name=name, type=AttributeProto.FLOATS)
    attribute.floats.extend(np.asarray(values, dtype=np.float32).tolist())
