"""Per-epoch checkpoints that survive a crash mid-write and load without unrestricted pickle."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

import torch

from modelplane.errors import Invalid

_NAME = re.compile(r"^epoch-(\d+)\.pt$")


class Checkpointer(Protocol):
    def save(self, epoch: int, state: dict[str, Any]) -> None: ...

    def load_latest(self) -> dict[str, Any] | None: ...


class CheckpointDir:
    """Checkpointer on a folder: epoch-NNNN.pt files, written atomically, the last `keep` kept."""

    def __init__(self, path: str | os.PathLike[str], keep: int = 2) -> None:
        if keep < 1:
            raise Invalid(f"keep must be >= 1 to be able to resume, got {keep}")
        self.path = Path(path)
        self.keep = keep

    def _epochs(self) -> list[tuple[int, Path]]:
        if not self.path.is_dir():
            return []
        found = ((_NAME.match(p.name), p) for p in self.path.iterdir())
        return sorted((int(m.group(1)), p) for m, p in found if m)

    def save(self, epoch: int, state: dict[str, Any]) -> None:
        """Temp file, fsync, then rename: a reader sees the old or the new file, never half of one."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".epoch-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path / f"epoch-{epoch:04d}.pt")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._fsync_dir()
        for _, old in self._epochs()[: -self.keep]:
            old.unlink(missing_ok=True)
        for stale in self.path.glob(".epoch-*.tmp"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)

    def _fsync_dir(self) -> None:
        # Makes the rename itself durable; not every platform allows opening a directory.
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def load_latest(self) -> dict[str, Any] | None:
        epochs = self._epochs()
        if not epochs:
            return None
        state: dict[str, Any] = torch.load(epochs[-1][1], map_location="cpu", weights_only=True)
        return state
