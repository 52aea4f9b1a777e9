"""One model version loaded for serving: its runtime behind its own dynamic batcher."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.errors import ModelplaneError
from modelplane.registry.loading import load_runtime
from modelplane.registry.tables import PREP_FORMAT, signature_of
from modelplane.registry.views import ModelVersionInfo
from modelplane.runtimes.base import Runtime
from modelplane.serving.backends import ServeBackend, start_replicas
from modelplane.serving.batcher import DynamicBatcher
from modelplane.serving.deployments import BatchingSpec
from modelplane.serving.metrics import default_metrics
from modelplane.serving.replicas.protocol import ReplicaSet
from modelplane.serving.scaling import ScalingSpec
from modelplane.serving.tables import class_names, column_inputs, count_unknown, feed, warm_up
from modelplane.serving.types import TensorMeta
from modelplane.store import Store
from modelplane.tables.signature import TableSignature

if TYPE_CHECKING:
    from modelplane.serving.rollout import RolloutWatch

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


def runtime_failure(exc: Exception) -> bool:
    """The model itself failed (a 500): not a bad request, an overload or a timeout."""
    return type(exc) is ModelplaneError or not isinstance(exc, ModelplaneError)


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
        scaling: ScalingSpec | None = None,
        replicated: ReplicaSet | None = None,
    ) -> None:
        self.deployment = deployment
        self.info = info
        self.batching = batching
        self.runtime = runtime
        self.chosen = chosen  # the deployment's runtime choice (None: the version's default)
        self.scaling = scaling or ScalingSpec()
        self.replicated = replicated  # where `runtime` is this set (its copies run elsewhere)
        self.watch: RolloutWatch | None = None  # set while a new version's first requests are watched
        self.platform = runtime.platform
        self.table = table
        self.takes_rows = takes_rows
        self.input = TensorMeta("input", "FP32", (-1, *info.input_shape))
        self.inputs = column_inputs(table) if table is not None else (self.input,)
        self.outputs = output_meta(info)
        self.resident_bytes = 0  # what loading it added to RSS; measured by serving.budget.measured_load
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
            max_concurrent_batches=replicated.slots if replicated is not None else 1,
            labels=(deployment, str(info.version)),
            metrics=metrics,
            inline=replicated is None,  # a replica set's `predict` waits on another process
        )
        if self.replicated is not None:
            self.replicated.attach(self.batcher)

    @classmethod
    def load(
        cls,
        store: Store,
        deployment: str,
        info: ModelVersionInfo,
        batching: BatchingSpec,
        metrics: Any | None,
        chosen: str | None = None,
        scaling: ScalingSpec | None = None,
        replicas: int = 0,
        backend: ServeBackend | None = None,
    ) -> LoadedVersion:
        """Load with the runtime `chosen` (None: the version's default) and warm it (one call at batch 1
        and one at the max batch), so the first request is not slow and a version that cannot compute its
        largest batch is never served. The runtime is fixed here, never per request. With `scaling` beyond
        one in-process replica, or on the `ray` backend, the model runs in replicas (processes here, or Ray
        Serve's): `replicas` of them to start with (at least the scaling's minimum, and one)."""
        scaling = scaling or ScalingSpec()
        backend = backend or ServeBackend()
        table, takes_rows = read_table(store, info)
        replicated: ReplicaSet | None = None
        runtime: Runtime | ReplicaSet
        if backend.runs_in_process(scaling):
            runtime = load_runtime(store, info, chosen)
            warm_up(runtime, info.input_shape, table, takes_rows, batching.max_batch_size)
        else:
            runtime = replicated = start_replicas(
                backend,
                store,
                deployment,
                info,
                runtime=chosen,
                batching=batching,
                scaling=scaling,
                metrics=metrics if metrics is not None else default_metrics(),
                replicas=replicas,
            )
        return cls(
            deployment,
            info,
            runtime,  # type: ignore[arg-type]  # a replica set runs batches as a runtime would
            batching,
            metrics,
            chosen,
            table=table,
            takes_rows=takes_rows,
            scaling=scaling,
            replicated=replicated,
        )

    @property
    def version(self) -> str:
        return str(self.info.version)

    async def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for a batch (a float matrix or structured rows, fed as this version reads it). A table
        runtime's `unknown` flags are counted into the metrics here and never reach the caller."""
        fed = feed(x, table=self.table, takes_rows=self.takes_rows, input_shape=self.info.input_shape)
        if self.replicated is not None:
            self.replicated.wake()
        watch = self.watch
        if watch is None or not watch.active:
            outputs = await self.batcher.submit(fed)
        else:
            try:
                outputs = await self.batcher.submit(fed)
            except Exception as exc:
                watch.record(failed=runtime_failure(exc))
                raise
            watch.record(failed=False)
        unknown = outputs.pop(UNKNOWN, None)
        if unknown is not None and self._categorical:
            self._metrics.observe_unknown(
                self.deployment, self.version, self._categorical, count_unknown(unknown).tolist()
            )
        return outputs

    @property
    def replicas(self) -> int:
        """Replica processes running now (1 for a version served inside the server)."""
        return self.replicated.count if self.replicated is not None else 1

    async def begin(self) -> None:
        """Once routed to, on the event loop: start following load (autoscaling)."""
        if self.replicated is not None:
            await self.replicated.begin()

    async def retire(self) -> None:
        """Finish what was queued, then release; new requests already go elsewhere."""
        await self.batcher.close()
        if self.replicated is not None:
            await self.replicated.close()
