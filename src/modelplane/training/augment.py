"""On-device image augmentation for training batches (random shift, rotation, gaussian noise).

Works in raw feature units before the model's standardize step, so `noise` means the same thing as the data;
pixels moved in from outside the image are 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from modelplane.training.config import AugmentConfig


class Augmenter:
    """Applies an AugmentConfig to (N, *input_shape) float batches through a (C, H, W) view.

    Draws from its own generator so runs are reproducible and the state can be checkpointed.
    """

    def __init__(
        self, config: AugmentConfig, chw: tuple[int, int, int], device: torch.device, seed: int
    ) -> None:
        self.config = config
        self.chw = chw
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.shift or self.config.rotation:
            x = self._warp(x)
        if self.config.noise:
            x = x + self.config.noise * torch.randn(
                x.shape, generator=self.generator, device=x.device, dtype=x.dtype
            )
        return x

    def _warp(self, x: torch.Tensor) -> torch.Tensor:
        """One affine resample for rotation + translation; integer shifts land exactly on pixel centres."""
        n = x.shape[0]
        c, h, w = self.chw
        gen, dev = self.generator, x.device
        angle = (torch.rand(n, generator=gen, device=dev) * 2 - 1) * math.radians(self.config.rotation)
        s = self.config.shift
        shift = torch.randint(-s, s + 1, (n, 2), generator=gen, device=dev).to(x.dtype)
        cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
        # Rotation in pixel space expressed in normalised [-1, 1] coordinates (corrects for H != W).
        theta = torch.stack(
            [
                torch.stack([cos, -sin * h / w, 2 * shift[:, 0] / w], dim=1),
                torch.stack([sin * w / h, cos, 2 * shift[:, 1] / h], dim=1),
            ],
            dim=1,
        )
        img = x.reshape(n, c, h, w)
        grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
        out = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.reshape(x.shape)
