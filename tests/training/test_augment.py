"""Augmenter: exact integer shifts, rotations that keep the image, seeded noise."""

from __future__ import annotations

import torch

from modelplane.training.augment import Augmenter
from modelplane.training.config import AugmentConfig

CPU = torch.device("cpu")


def dots(n: int, h: int = 9, w: int = 7) -> torch.Tensor:
    x = torch.zeros(n, h, w)
    x[:, h // 2, w // 2] = 1.0
    return x


def test_shift_moves_pixels_by_whole_steps() -> None:
    augment = Augmenter(AugmentConfig(shift=2), (1, 9, 7), CPU, seed=0)
    out = augment(dots(200))
    assert out.shape == (200, 9, 7)
    flat = out.reshape(200, -1)
    assert torch.allclose(flat.max(dim=1).values, torch.ones(200), atol=1e-5)  # one pixel, moved intact
    assert torch.allclose(flat.sum(dim=1), torch.ones(200), atol=1e-5)
    rows, cols = flat.argmax(dim=1) // 7 - 4, flat.argmax(dim=1) % 7 - 3
    assert rows.abs().max() == 2 and cols.abs().max() == 2
    assert len({(int(r), int(c)) for r, c in zip(rows, cols, strict=True)}) > 15


def test_rotation_keeps_the_centre_and_changes_the_rest() -> None:
    x = torch.zeros(50, 1, 9, 9)
    x[:, 0, 4, :] = 1.0  # a horizontal bar through the centre
    out = Augmenter(AugmentConfig(rotation=45), (1, 9, 9), CPU, seed=0)(x)
    assert torch.allclose(out[:, 0, 4, 4], torch.ones(50), atol=1e-5)
    assert (out - x).abs().amax(dim=(1, 2, 3)).min() > 0.01


def test_noise_is_seeded_and_in_raw_units() -> None:
    x = torch.zeros(100, 64)
    a = Augmenter(AugmentConfig(noise=2.0), (1, 8, 8), CPU, seed=3)(x)
    b = Augmenter(AugmentConfig(noise=2.0), (1, 8, 8), CPU, seed=3)(x)
    assert torch.equal(a, b)
    assert abs(a.std().item() - 2.0) < 0.1


def test_zero_config_is_identity() -> None:
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(Augmenter(AugmentConfig(), (3, 8, 8), CPU, seed=0)(x), x)
