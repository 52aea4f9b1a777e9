"""Test doubles for the trainer."""

from __future__ import annotations

import io
from typing import Any

import torch


class MemoryCheckpointer:
    """Keeps every epoch, serialised like the real one so only weights_only-loadable state passes."""

    def __init__(self) -> None:
        self.blobs: dict[int, bytes] = {}

    def save(self, epoch: int, state: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.blobs[epoch] = buffer.getvalue()

    def state(self, epoch: int) -> dict[str, Any]:
        loaded: dict[str, Any] = torch.load(io.BytesIO(self.blobs[epoch]), weights_only=True)
        return loaded

    def load_latest(self) -> dict[str, Any] | None:
        return self.state(max(self.blobs)) if self.blobs else None
