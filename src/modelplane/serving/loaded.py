"""One model version loaded for serving: its runtime behind its own dynamic batcher."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelplane.registry.loading import load_runtime
from modelplane.registry.tables import PREP_FORMAT, signature_of
from modelplane.registry.views import ModelVersionInfo
from modelplane.runtimes.base import Runtime
from modelplane.serving.batcher import DynamicBatcher
from modelplane.serving.deployments import BatchingSpec
from modelplane.serving.metrics import default_metrics
from modelplane.serving.tables import blank_rows, class_names, column_inputs, count_unknown, feed
from modelplane.serving.types import TensorMeta
from modelplane.store import Store
from modelplane.tables.signature import TableSignature

UNKNOWN = "unknown"  # a table runtime's per-row, per-categorical-column flags of unseen values


def output_meta(info: ModelVersionInfo) -> tuple[TensorMeta, ...]:
    if info.task == "classification":
        return TensorMeta("label", "BYTES", (-1,)), TensorMeta(
            "probabilities", "FP32", (-1, class_count(info))
        )
    return (TensorMeta("prediction", "FP32", (-1, int(info.spec["num_outputs"]))),)


def class_count(info: ModelVersionInfo) -> int:
    return len(info.classes or []) or int(info.spec["num_outputs"])


def read_table(store: Store, info: ModelVersionInfo) -> tuple[TableSignature | None, bool]:
    """The named columns `info` takes, and whether its runtime reads them as structured rows (a version
    with preprocessing, the `preprocess` artifact `preprocessor_of` reads) rather than a float matrix."""
    return signature_of(store, info), info.artifacts.get(PREP_FORMAT) is not None


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
        *,
        table: TableSignature | None = None,
        takes_rows: bool = False,
    ) -> None:
        self.deployment = deployment
        self.info = info
        self.batching = batching
        self.runtime = runtime
        self.chosen = chosen  # the deployment's runtime choice (None: the version's default)
        self.platform = runtime.platform
        self.table = table
        self.takes_rows = takes_rows
        self.input = TensorMeta("input", "FP32", (-1, *info.input_shape))
        self.inputs = column_inputs(table) if table is not None else (self.input,)
        self.outputs = output_meta(info)
        self.class_names = (
            class_names(info.classes, class_count(info)) if info.task == "classification" else None
        )
        self._categorical = [c.name for c in table.block("categorical")] if table is not None else []
        self._metrics = metrics if metrics is not None else default_metrics()
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
        table, takes_rows = read_table(store, info)
        runtime = load_runtime(store, info, chosen)
        for rows in (1, batching.max_batch_size):
            if takes_rows:
                assert table is not None
                runtime.predict(blank_rows(table, rows))
            else:
                runtime.predict(np.zeros((rows, *info.input_shape), dtype=np.float32))
        return cls(deployment, info, runtime, batching, metrics, chosen, table=table, takes_rows=takes_rows)

    @property
    def version(self) -> str:
        return str(self.info.version)

    async def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for a batch (a float matrix or structured rows, fed as this version reads it). A table
        runtime's `unknown` flags are counted into the metrics here and never reach the caller."""
        fed = feed(x, table=self.table, takes_rows=self.takes_rows, input_shape=self.info.input_shape)
        outputs = await self.batcher.submit(fed)
        unknown = outputs.pop(UNKNOWN, None)
        if unknown is not None and self._categorical:
            self._metrics.observe_unknown(
                self.deployment, self.version, self._categorical, count_unknown(unknown).tolist()
            )
        return outputs

    async def retire(self) -> None:
        """Finish what was queued, then release; new requests already go elsewhere."""
        await self.batcher.close()
