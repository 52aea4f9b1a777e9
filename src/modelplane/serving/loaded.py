"""One model version loaded for serving: its runtime behind its own dynamic batcher."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelplane.registry.loading import load_runtime
from modelplane.registry.views import ModelVersionInfo
from modelplane.runtimes.base import Runtime
from modelplane.serving.batcher import DynamicBatcher
from modelplane.serving.deployments import BatchingSpec
from modelplane.serving.types import TensorMeta
from modelplane.store import Store


def output_meta(info: ModelVersionInfo) -> tuple[TensorMeta, ...]:
    if info.task == "classification":
        classes = len(info.classes or []) or int(info.spec["num_outputs"])
        return TensorMeta("label", "INT64", (-1,)), TensorMeta("probabilities", "FP32", (-1, classes))
    return (TensorMeta("prediction", "FP32", (-1, int(info.spec["num_outputs"]))),)


class LoadedVersion:
    """Built off the event loop (`load` blocks on file reads and session creation), used on it."""

    def __init__(
        self,
        deployment: str,
        info: ModelVersionInfo,
        runtime: Runtime,
        batching: BatchingSpec,
        metrics: Any | None,
        chosen: str | None = None,
    ) -> None:
        self.deployment = deployment
        self.info = info
        self.batching = batching
        self.runtime = runtime
        self.chosen = chosen  # the deployment's runtime choice (None: the version's default)
        self.platform = runtime.platform
        self.input = TensorMeta("input", "FP32", (-1, *info.input_shape))
        self.outputs = output_meta(info)
        self.batcher = DynamicBatcher(
            runtime.predict,
            max_batch_size=batching.max_batch_size,
            max_queue_delay_ms=batching.max_queue_delay_ms,
            max_queue_size=batching.max_queue_size,
            timeout_s=batching.timeout_s,
            labels=(deployment, str(info.version)),
            metrics=metrics,
        )

    @classmethod
    def load(
        cls,
        store: Store,
        deployment: str,
        info: ModelVersionInfo,
        batching: BatchingSpec,
        metrics: Any | None,
        chosen: str | None = None,
    ) -> LoadedVersion:
        """Load with the runtime `chosen` (None: the version's default) and warm it (one call at batch 1
        and one at the max batch), so the first request is not slow. The runtime is fixed here, never per
        request."""
        runtime = load_runtime(store, info, chosen)
        for rows in (1, batching.max_batch_size):
            runtime.predict(np.zeros((rows, *info.input_shape), dtype=np.float32))
        return cls(deployment, info, runtime, batching, metrics, chosen)

    @property
    def version(self) -> str:
        return str(self.info.version)

    async def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return await self.batcher.submit(x)

    async def retire(self) -> None:
        """Finish what was queued, then release; new requests already go elsewhere."""
        await self.batcher.close()
