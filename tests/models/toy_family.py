"""A torch family written the way the README's "Extending" section shows: one spec, one module, and the
registration in `register()` — nothing else in the house changes to train, tune, export and serve it."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from modelplane.models.frameworks import Family, register_family
from modelplane.models.spec import BaseSpec, PositiveInt
from modelplane.models.torch_zoo import Standardize

KIND = "toy_wide"


class ToyWideSpec(BaseSpec):
    kind: Literal["toy_wide"]
    width: PositiveInt = 16


class ToyWide(nn.Module):
    """One hidden layer. A torch family's module starts with a `standardize` step (the trainer fills it)."""

    def __init__(self, spec: ToyWideSpec) -> None:
        super().__init__()
        self.standardize = Standardize(spec.input_shape)
        hidden = nn.Linear(spec.num_features, spec.width)
        self.body = nn.Sequential(nn.Flatten(), hidden, nn.ReLU(), nn.Linear(spec.width, spec.num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.standardize(x))


def register() -> None:
    space = {"width": {"low": 4, "high": 32, "log": True}}
    register_family(Family(KIND, "torch", ToyWideSpec, ToyWide, tuning_space=space))
