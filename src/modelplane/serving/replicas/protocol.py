"""What a version's batcher calls instead of an in-process runtime when copies of the model run elsewhere:
replica processes on this machine (`ReplicatedVersion`) or Ray Serve replicas on a cluster
(`serving.ray_serve.RayServeVersion`). `LoadedVersion` speaks only this protocol, so a new place to run
replicas is one class, not edits across the server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from modelplane.serving.batcher import DynamicBatcher


class ReplicaSet(Protocol):
    """Copies of one model version, started (loaded and warmed at the largest batch) before it is served."""

    @property
    def platform(self) -> str:
        """The runtime the replicas run (as a loaded runtime's `platform`)."""
        ...

    @property
    def count(self) -> int:
        """Replicas running now (the `modelplane_replicas` gauge shows the same)."""
        ...

    @property
    def slots(self) -> int:
        """The most batches the batcher may run at once on this set (its executor's size)."""
        ...

    def resident_bytes(self) -> int:
        """Memory the replicas hold on this machine (what a memory budget counts; 0 for a cluster's)."""
        ...

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Blocking: one batch's outputs; called from the batcher's executor threads."""
        ...

    def attach(self, batcher: DynamicBatcher) -> None:
        """The batcher that feeds this set: told how many batches may run at once, now and on change."""
        ...

    async def begin(self) -> None:
        """On the event loop, once the version is routed to: start following load."""
        ...

    def wake(self) -> None:
        """A request arrived (a set scaled to zero may start a replica now)."""
        ...

    async def close(self) -> None:
        """After the batcher drained: stop every replica."""
        ...
