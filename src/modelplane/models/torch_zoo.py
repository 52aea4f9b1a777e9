"""Torch networks built from a spec.

Every network starts with a `standardize` step whose mean/std are buffers, so normalisation travels with the
weights into safetensors, ONNX and TorchScript and clients always send raw features.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from modelplane.errors import Invalid
from modelplane.models.frameworks import family
from modelplane.models.spec import BaseSpec, CNNSpec, MLPSpec, RNNSpec

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
_MIN_STD = 1e-6


class Standardize(nn.Module):
    """(x - mean) / std per feature; with the initial 0/1 buffers it is the identity."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(tuple(shape)))
        self.register_buffer("std", torch.ones(tuple(shape)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ImageView(nn.Module):
    """(N, ...) -> (N, C, H, W) via x.size(0), not unflatten: legacy ONNX export keeps the batch dynamic."""

    def __init__(self, chw: tuple[int, int, int]) -> None:
        super().__init__()
        self.channels, self.height, self.width = chw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.size(0), self.channels, self.height, self.width)


class MLP(nn.Module):
    def __init__(self, spec: MLPSpec) -> None:
        super().__init__()
        self.standardize = Standardize(spec.input_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        width = spec.num_features
        for size in spec.hidden:
            layers.append(nn.Linear(width, size))
            if spec.batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(_ACTIVATIONS[spec.activation]())
            if spec.dropout > 0:
                layers.append(nn.Dropout(spec.dropout))
            width = size
        layers.append(nn.Linear(width, spec.num_outputs))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.standardize(x))


class CNN(nn.Module):
    """Conv blocks (conv, [BN], ReLU, max-pool) then dense layers; pooling stops once the map is too small."""

    def __init__(self, spec: CNNSpec) -> None:
        super().__init__()
        self.standardize = Standardize(spec.input_shape)
        in_ch, height, width = spec.chw()
        layers: list[nn.Module] = [ImageView((in_ch, height, width))]
        pad = spec.kernel_size // 2
        for out_ch in spec.channels:
            layers.append(nn.Conv2d(in_ch, out_ch, spec.kernel_size, padding=pad, bias=not spec.batch_norm))
            if spec.batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU())
            # Even kernels grow the map by one with this padding; odd ones keep it.
            height, width = height + 2 * pad - spec.kernel_size + 1, width + 2 * pad - spec.kernel_size + 1
            if spec.pool > 1 and min(height, width) >= spec.pool:
                layers.append(nn.MaxPool2d(spec.pool))
                height, width = height // spec.pool, width // spec.pool
            in_ch = out_ch
        layers.append(nn.Flatten())
        size = in_ch * height * width
        for dense in spec.dense:
            layers += [nn.Linear(size, dense), nn.ReLU()]
            if spec.dropout > 0:
                layers.append(nn.Dropout(spec.dropout))
            size = dense
        layers.append(nn.Linear(size, spec.num_outputs))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.standardize(x))


class SequenceView(nn.Module):
    """Reshape a sample to (T, F); for an image view the steps are its rows, each C*W wide."""

    def __init__(self, spec: RNNSpec) -> None:
        super().__init__()
        rows = spec.rows_of()
        self.by_rows = rows is not None
        self.channels, self.height, self.width = rows or (1, 1, 1)
        self.steps, self.features = spec.tf()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.size(0)
        if self.by_rows:
            x = x.reshape(n, self.channels, self.height, self.width).permute(0, 2, 1, 3)
        return x.reshape(n, self.steps, self.features)


class RecurrentNet(nn.Module):
    """LSTM/GRU over the sequence view; the head reads the final state of each direction."""

    def __init__(self, spec: RNNSpec) -> None:
        super().__init__()
        self.standardize = Standardize(spec.input_shape)
        self.view = SequenceView(spec)
        rnn = nn.LSTM if spec.kind == "lstm" else nn.GRU
        self.rnn = rnn(
            input_size=self.view.features,
            hidden_size=spec.hidden_size,
            num_layers=spec.num_layers,
            batch_first=True,
            bidirectional=spec.bidirectional,
            dropout=spec.dropout if spec.num_layers > 1 else 0.0,
        )
        self.bidirectional = spec.bidirectional
        self.hidden_size = spec.hidden_size
        self.dropout = nn.Dropout(spec.dropout)
        self.head = nn.Linear(spec.hidden_size * (2 if spec.bidirectional else 1), spec.num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.view(self.standardize(x)))
        if self.bidirectional:
            # The backward direction has read the whole sequence at step 0, the forward one at the last step.
            last = torch.cat([out[:, -1, : self.hidden_size], out[:, 0, self.hidden_size :]], dim=1)
        else:
            last = out[:, -1]
        return self.head(self.dropout(last))


def build_torch_model(spec: BaseSpec, *, seed: int = 0) -> nn.Module:
    """Build the network for a spec with its family's builder (`build(spec)`); weights are initialised from
    `seed` without touching the global RNG."""
    fam = family(spec.kind)
    if fam.framework != "torch":
        raise Invalid(f"model kind {spec.kind!r} is not a torch model; build it with build_estimator")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module: nn.Module = fam.builder()(spec)
        return module


def standardizer(model: nn.Module) -> Standardize:
    module = getattr(model, "standardize", None)
    if not isinstance(module, Standardize):
        raise Invalid("model has no 'standardize' step; build it with build_torch_model")
    return module


def set_normalization(model: nn.Module, mean: np.ndarray, std: np.ndarray) -> None:
    """Store feature statistics in the model; constant features (std 0) get std 1 so they map to 0."""
    module = standardizer(model)
    shape = tuple(module.mean.shape)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.size != module.mean.numel() or std.size != module.std.numel():
        raise Invalid(
            f"normalisation stats must have {module.mean.numel()} values (shape {list(shape)}), "
            f"got mean {list(mean.shape)} and std {list(std.shape)}"
        )
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        raise Invalid("normalisation stats are not finite; the training features contain NaN or inf")
    std = np.where(std > 0, np.maximum(std, _MIN_STD), 1.0)
    with torch.no_grad():
        module.mean.copy_(torch.from_numpy(mean.reshape(shape)))
        module.std.copy_(torch.from_numpy(std.reshape(shape)))
