"""Magnitude pruning of the torch zoo's networks.

unstructured: the smallest-magnitude weights across all weight matrices and kernels (one global threshold)
are held at zero through fine-tuning by torch's pruning masks, then made permanent. The tensors stay
dense, so files and latency do not shrink; the sparsity is real and reported, nothing more is claimed.
structured: whole hidden neurons (mlp) or channels and dense units (cnn) are removed and the layers
rebuilt smaller, with a spec to match, so the exported model really is smaller and faster.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from modelplane.errors import Invalid
from modelplane.models.frameworks import PRUNE, framework, frameworks_with, parse_spec
from modelplane.models.spec import BaseSpec, CNNSpec, MLPSpec, spec_to_dict
from modelplane.models.torch_zoo import build_torch_model
from modelplane.registry.views import ONNX_FRAMEWORK, ModelVersionInfo

STRUCTURED_KINDS = ("mlp", "cnn")
_WEIGHTED = (nn.Linear, nn.Conv2d, nn.LSTM, nn.GRU)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def check_prunable(info: ModelVersionInfo, amount: float, *, structured: bool) -> None:
    """Refuse, before any work, what cannot be pruned this way."""
    if not 0.0 < amount < 1.0:
        raise Invalid(
            f"prune amount must be between 0 and 1 (exclusive), got {amount:g}; e.g. --prune 0.6 removes 60%"
        )
    if info.framework == ONNX_FRAMEWORK and "imported" in info.params:
        raise Invalid(
            f"{info.ref} is an ONNX graph imported from elsewhere, without weights modelplane can prune; "
            "import torch weights as safetensors + spec to prune them, or distill it with --distill"
        )
    if info.framework == ONNX_FRAMEWORK:
        raise Invalid(f"{info.ref} is an ONNX-only (int8) model; prune its parent {info.parent} instead")
    adapter = framework(info.framework)
    if PRUNE not in adapter.capabilities:
        able = " or ".join(framework(name).title for name in frameworks_with(PRUNE))
        raise Invalid(f"{info.ref} is a {adapter.title} {info.kind} model; pruning needs a {able} model")
    if structured and info.kind not in STRUCTURED_KINDS:
        raise Invalid(
            f"structured pruning rebuilds {' and '.join(STRUCTURED_KINDS)} layers; {info.ref} is a "
            f"{info.kind}: drop --structured to prune its weights unstructured"
        )


def weight_tensors(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """Weight matrices and kernels (not biases, norm scales or the standardisation buffers)."""
    return [
        (module, name)
        for module in model.modules()
        if isinstance(module, _WEIGHTED)
        for name, param in module.named_parameters(recurse=False)
        if param.dim() > 1
    ]


def mask_smallest(model: nn.Module, amount: float) -> list[tuple[nn.Module, str]]:
    """Global L1 magnitude masks over every weight tensor; masked weights get zero gradient."""
    targets = weight_tensors(model)
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
    return targets


def make_permanent(targets: list[tuple[nn.Module, str]]) -> None:
    """Fold the masks into the weights, leaving a plain module with zeros where weights were removed."""
    for module, name in targets:
        prune.remove(module, name)


def sparsity(model: nn.Module) -> dict[str, Any]:
    """Counts over all parameters and over the prunable weights; `sparsity` is the prunable zeros' share."""
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    weights = [getattr(module, name) for module, name in weight_tensors(model)]
    prunable = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    return {
        "parameters": total,
        "nonzero_parameters": total - sum(int((p == 0).sum()) for p in params),
        "prunable_weights": prunable,
        "sparsity": zeros / prunable if prunable else 0.0,
    }


def shrink(model: nn.Module, spec: BaseSpec, amount: float) -> tuple[nn.Module, BaseSpec]:
    """Remove `amount` of every hidden layer's units, least important first, into a smaller network.

    A unit's importance is |gamma| of the batch norm after it (which rescales it, so the norm of its
    weights says nothing: network slimming, Liu et al. 2017), else the L1 norm of its incoming weights
    (Li et al. 2017). The output layer and the standardisation keep their size.
    """
    if not isinstance(spec, MLPSpec | CNNSpec):
        raise Invalid(f"structured pruning rebuilds {' and '.join(STRUCTURED_KINDS)} layers, not {spec.kind}")
    layers = list(model.get_submodule("body").children())
    keep = _units_to_keep(layers, amount)
    sizes = [len(keep[i]) for i in sorted(keep)]
    if isinstance(spec, MLPSpec):
        fields: dict[str, Any] = {"hidden": sizes}
    else:
        fields = {"channels": sizes[: len(spec.channels)], "dense": sizes[len(spec.channels) :]}
    smaller = parse_spec({**spec_to_dict(spec), **fields})
    rebuilt = build_torch_model(smaller)
    rebuilt.get_submodule("standardize").load_state_dict(model.get_submodule("standardize").state_dict())
    with torch.no_grad():
        _copy_kept(layers, list(rebuilt.get_submodule("body").children()), keep)
    return rebuilt.eval(), smaller


def _units_to_keep(layers: list[nn.Module], amount: float) -> dict[int, torch.Tensor]:
    """Layer index -> sorted indices of the output units kept, for every hidden Linear/Conv2d."""
    weighted = [(i, layer) for i, layer in enumerate(layers) if isinstance(layer, nn.Linear | nn.Conv2d)]
    keep: dict[int, torch.Tensor] = {}
    for i, layer in weighted[:-1]:  # the last one produces the outputs
        weight = layer.weight.detach()
        after = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(after, _NORMS):
            importance = after.weight.detach().abs()
        else:
            importance = weight.abs().reshape(len(weight), -1).sum(dim=1)
        count = max(1, round(len(weight) * (1.0 - amount)))
        keep[i] = torch.sort(torch.topk(importance, count).indices).values
    return keep


def _copy_kept(old: list[nn.Module], new: list[nn.Module], keep: dict[int, torch.Tensor]) -> None:
    """Copy the kept rows (outputs) and columns (inputs) of every layer into the rebuilt ones."""
    inputs: torch.Tensor | None = None  # units of the previous weighted layer that survived
    previous_units = 0
    for i, (source, target) in enumerate(zip(old, new, strict=True)):
        if isinstance(source, nn.Linear | nn.Conv2d):
            assert isinstance(target, type(source))  # rebuilt from the same spec kind, layer for layer
            weight = source.weight.detach()
            if inputs is not None:
                columns = inputs
                if isinstance(source, nn.Linear) and weight.shape[1] != previous_units:
                    # A flattened conv map: each channel owns a contiguous block of H*W features.
                    block = weight.shape[1] // previous_units
                    columns = (inputs[:, None] * block + torch.arange(block)).reshape(-1)
                weight = weight[:, columns]
            outputs = keep.get(i)
            target.weight.copy_(weight if outputs is None else weight[outputs])
            if source.bias is not None and target.bias is not None:
                bias = source.bias.detach()
                target.bias.copy_(bias if outputs is None else bias[outputs])
            previous_units, inputs = len(source.weight), outputs
        elif isinstance(source, _NORMS):
            state = source.state_dict()
            target.load_state_dict(
                {k: v if v.dim() == 0 or inputs is None else v[inputs] for k, v in state.items()}
            )


def layer_sizes(model: nn.Module) -> list[int]:
    """Output units of each Linear/Conv2d, to show what structured pruning removed."""
    return [int(m.weight.shape[0]) for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
