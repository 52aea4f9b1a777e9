"""A fine-tuned candidate's serving graph: production's ONNX graph with the candidate's weights in it.

A warm start keeps production's spec, so the graph torch.export would write for the candidate is
production's graph with other numbers: exporting afresh costs seconds (more than the fine-tune itself on a
small model), swapping the numbers milliseconds. The exporter's optimiser folds each batch norm into the
layer before it, so an initializer is either a weight as it is or such a fold: W * s and (b - mean) * s +
beta with s = gamma / sqrt(var + eps). Which one each initializer is, is read off production itself — the
map must reproduce production's graph from production's weights — and then applied to the candidate's.
Anything the map cannot explain returns a reason, and the caller exports afresh; the new graph is checked
against the candidate's torch model on real rows before anything serves it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

# torch's BatchNorm default, the only one the zoo uses.
_EPS = 1e-5
_PREFIX = "model."  # the exporter's wrapper holds the network as `model`
_RTOL, _ATOL = 1e-4, 1e-6

Weights = Mapping[str, np.ndarray]
Fold = Callable[[Weights], np.ndarray]


def _norms(weights: Weights) -> list[str]:
    """The batch-norm layers: prefixes that have running statistics."""
    return [key.removesuffix(".running_var") for key in weights if key.endswith(".running_var")]


def _scale(w: Weights, norm: str) -> np.ndarray:
    return np.asarray(w[f"{norm}.weight"], np.float64) / np.sqrt(np.asarray(w[f"{norm}.running_var"]) + _EPS)


def _as_is(w: Weights, *, name: str) -> np.ndarray:
    return np.asarray(w[name])


def _folded_weight(w: Weights, *, name: str, norm: str) -> np.ndarray:
    """W * s, s along the output channels (the first axis of a Linear's or a Conv's weight)."""
    weight = np.asarray(w[name])
    return weight * _scale(w, norm).reshape(-1, *[1] * (weight.ndim - 1))


def _folded_bias(w: Weights, *, bias: str, norm: str) -> np.ndarray:
    """(b - mean) * s + beta, with b = 0 for a layer without a bias."""
    b = np.asarray(w[bias]) if bias in w else 0.0
    return (b - np.asarray(w[f"{norm}.running_mean"])) * _scale(w, norm) + np.asarray(w[f"{norm}.bias"])


def _folds(name: str, weights: Weights) -> list[Fold]:
    """Every way the exporter may have produced initializer `name` from the weights."""
    found: list[Fold] = [partial(_as_is, name=name)] if name in weights else []
    for norm in _norms(weights):
        if name in weights and name.endswith(".weight"):
            found.append(partial(_folded_weight, name=name, norm=norm))
        if name in weights and name.endswith(".bias"):
            found.append(partial(_folded_bias, bias=name, norm=norm))
        if name.endswith(".weight_bias") and name.removesuffix("_bias") in weights:
            found.append(partial(_folded_bias, bias=name.removesuffix(".weight_bias") + ".bias", norm=norm))
    return found


def _explain(name: str, value: np.ndarray, production: Weights) -> Fold | None:
    """The one fold that turns production's weights into this initializer, if exactly one does."""
    matching = []
    for fold in _folds(name, production):
        try:
            made = fold(production)
        except (KeyError, ValueError):
            continue
        if made.shape == value.shape and np.allclose(made, value, rtol=_RTOL, atol=_ATOL):
            matching.append(fold)
    return matching[0] if len(matching) == 1 else None


def graph_with_weights(
    production_graph: Path, production: Weights, candidate: Weights, path: Path
) -> str | None:
    """Write production's graph holding the candidate's weights to `path`; None when done, else why not."""
    model = onnx.load(str(production_graph))
    for initializer in model.graph.initializer:
        value = numpy_helper.to_array(initializer)
        if not np.issubdtype(value.dtype, np.floating):
            continue  # shapes and indices: the same for any weights
        name = initializer.name.removeprefix(_PREFIX)
        fold = _explain(name, value, production)
        if fold is None:
            return (
                f"initializer {initializer.name!r} of production's graph is not a weight or a batch-norm fold"
            )
        initializer.CopyFrom(numpy_helper.from_array(fold(candidate).astype(value.dtype), initializer.name))
    onnx.save(model, str(path))
    return None
