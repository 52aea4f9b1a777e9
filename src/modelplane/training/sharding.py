"""Sharded data-parallel training (FSDP2, `fully_shard`) for fit_rank: each rank keeps a shard of every
parameter, gradient and optimizer state, and gathers whole parameters only for a forward or backward pass.

Checkpoints, best weights on disk and the returned model hold whole (gathered) tensors, so a sharded run's
weights register, export and serve like any other. Gathering is collective: every rank calls these
functions together. Buffers (batch-norm statistics) are not sharded and each rank keeps its own; rank 0's
are the ones saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor, distribute_tensor

_GATHERED = StateDictOptions(full_state_dict=True, cpu_offload=True)  # whole tensors, on rank 0 only
_WHOLE = StateDictOptions(full_state_dict=True)


def shard(model: nn.Module) -> None:
    """Shard `model` in place (one FSDP unit over all its parameters); build its optimizer afterwards."""
    fully_shard(model)


def gathered_weights(model: nn.Module) -> dict[str, Any]:
    """The whole model state dict on rank 0 (empty elsewhere); collective."""
    return get_model_state_dict(model, options=_GATHERED)


def gathered(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, Any]]:
    """Whole model and optimizer state dicts on rank 0 (empty elsewhere); collective."""
    return gathered_weights(model), get_optimizer_state_dict(model, optimizer, options=_GATHERED)


def load_whole(
    model: nn.Module, optimizer: torch.optim.Optimizer, weights: dict[str, Any], state: dict[str, Any]
) -> None:
    """Load whole state dicts (every rank holds them) into the sharded model and its optimizer."""
    set_model_state_dict(model, weights, options=_WHOLE)
    set_optimizer_state_dict(model, optimizer, state, options=_WHOLE)


def whole_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Shards gathered into whole tensors, on every rank; collective."""
    return {k: v.full_tensor() if isinstance(v, DTensor) else v for k, v in tensors.items()}


def sharded_like(whole: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Whole tensors cut into this rank's shards, as `model` holds its parameters."""
    current = model.state_dict()
    return {
        k: distribute_tensor(v.to(current[k].device), current[k].device_mesh, current[k].placements)
        if isinstance(current[k], DTensor)
        else v.to(current[k].device)
        for k, v in whole.items()
    }
