"""Training on a Ray cluster: Ray Train's TorchTrainer runs the data-parallel loop (training/distributed.py
`fit_rank`) on `train.workers` Ray workers, and everything around the fit — the run's rows, its epochs,
the checkpoints, the registered version — is the embedded path's own (training/runs.py).

The checkpoints are the run's usual epoch files in the store (rank 0 writes them; every rank resumes from
them), so a Ray worker that dies is restarted by Ray Train (`FailureConfig`) from the last epoch, a driver
that dies is replaced by the next job attempt from the same files, and `modelplane train --resume` works
as for any run. On a multi-node cluster the store's runs folder must be shared by the nodes, as the
database and the artifact root must be (cluster/driver.py).
"""

from __future__ import annotations

import queue as queues
import threading
from pathlib import Path
from typing import Any

from modelplane.cluster.driver import Channel
from modelplane.jobs.context import JobCancelled
from modelplane.models.frameworks import Arrays, EpochCallback, Fitted, HistoryCallback, framework_of
from modelplane.models.spec import BaseSpec
from modelplane.store import Store
from modelplane.training.config import TrainConfig
from modelplane.training.runs import StopRun, continue_run

_MAX_FAILURES = 2  # Ray Train restarts of the worker group (a worker or its node died) before the run fails
_POLL_S = 0.25


def ray_run_name(run_id: str) -> str:
    return f"modelplane-run-{run_id}"


def drive(payload: dict[str, Any], store: Store, channel: Channel) -> dict[str, Any]:
    """Train the queued (or interrupted) run `payload["run_id"]` on the cluster and register its version;
    each recorded epoch becomes an event for the worker following the job."""
    run_id = str(payload["run_id"])
    channel.remember("train_run", ray_run_name(run_id))

    def on_epoch(metrics: dict[str, float]) -> None:
        channel.emit({"epoch": dict(metrics)})
        if channel.cancelled:
            raise StopRun("cancelled", "cancelled with `modelplane jobs cancel`")

    try:
        run = continue_run(store, run_id, on_epoch=on_epoch, fitter=RayFitter(store, run_id, channel))
    except StopRun as stop:
        if stop.status == "cancelled":
            raise JobCancelled from None
        raise
    return {"run_id": run.id, "model_version": run.model_version, "test": run.metrics.get("test", {})}


class RayFitter:
    """`training.runs.Fitter` on Ray Train. Rank 0's epochs come back through a Ray queue and are recorded
    here, in the driver, exactly as an embedded fit records them."""

    def __init__(self, store: Store, run_id: str, channel: Channel) -> None:
        self.store, self.run_id, self.channel = store, run_id, channel

    def __call__(
        self,
        spec: BaseSpec,
        config: TrainConfig,
        train: Arrays,
        validation: Arrays,
        *,
        checkpoints: Path | None = None,
        on_epoch: EpochCallback | None = None,
        on_resume: HistoryCallback | None = None,
    ) -> Fitted:
        import ray
        from ray.train import FailureConfig, RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer
        from ray.util.queue import Queue

        if framework_of(spec).name != "torch":
            raise StopRun("failed", f"the ray backend trains torch families; {spec.kind} fits embedded")
        messages = Queue()
        trainer = TorchTrainer(
            _train_loop,
            train_loop_config={
                "spec": spec.model_dump(mode="json"),
                "config": config.model_dump(mode="json"),
                "train": ray.put(train),
                "validation": ray.put(validation),
                "checkpoints": str(checkpoints) if checkpoints is not None else None,
                "messages": messages,
            },
            scaling_config=ScalingConfig(num_workers=config.workers, use_gpu=_use_gpu(config)),
            run_config=RunConfig(
                name=ray_run_name(self.run_id),
                storage_path=str(self.store.runs_dir / self.run_id / "ray"),
                failure_config=FailureConfig(max_failures=_MAX_FAILURES),
            ),
        )
        self.channel.emit({"line": f"Ray Train run {ray_run_name(self.run_id)}: {config.workers} worker(s)"})
        outcome: dict[str, Any] = {}
        thread = threading.Thread(target=_fit_into, args=(trainer, outcome), name="ray-train", daemon=True)
        thread.start()
        final = self._relay(messages, thread, on_epoch, on_resume)
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        if final is None:
            raise StopRun("failed", "Ray Train ended without rank 0's final weights")
        return _fitted(spec, config, final)

    def _relay(
        self,
        messages: Any,
        thread: threading.Thread,
        on_epoch: EpochCallback | None,
        on_resume: HistoryCallback | None,
    ) -> dict[str, Any] | None:
        """Hand rank 0's messages to the callbacks until the fit ends; returns its final message."""
        final = None
        while thread.is_alive() or not messages.empty():
            try:
                message = messages.get(timeout=_POLL_S)
            except queues.Empty:
                continue
            if "epoch" in message and on_epoch is not None:
                on_epoch(message["epoch"])
            elif "resumed" in message and on_resume is not None:
                on_resume(message["resumed"])
            elif "line" in message:
                self.channel.emit(message)
            elif "final" in message:
                final = message["final"]
        return final


def _use_gpu(config: TrainConfig) -> bool:
    """As `device` means embedded: cuda insists, auto takes GPUs when the cluster has one per worker."""
    import ray

    if config.device != "auto":
        return config.device == "cuda"
    return bool(ray.cluster_resources().get("GPU", 0) >= config.workers)


def _fit_into(trainer: Any, outcome: dict[str, Any]) -> None:
    try:
        trainer.fit()
    except Exception as exc:
        outcome["error"] = exc


def _fitted(spec: BaseSpec, config: TrainConfig, final: dict[str, Any]) -> Fitted:
    import torch

    model = framework_of(spec).build(spec, seed=config.seed)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in final["weights"].items()})
    return Fitted(model.eval(), final["history"], int(final["best_epoch"]))


def _train_loop(loop_config: dict[str, Any]) -> None:
    """One Ray Train worker: its process group is up (gloo, or NCCL on GPUs); fit_rank does the rest."""
    import ray
    import ray.train
    import torch.distributed

    from modelplane.models.frameworks import parse_spec
    from modelplane.training.checkpoints import CheckpointDir
    from modelplane.training.distributed import fit_rank

    spec = parse_spec(loop_config["spec"])
    config = TrainConfig(**loop_config["config"])
    messages = loop_config["messages"]
    rank = ray.train.get_context().get_world_rank()
    if rank == 0:
        messages.put({"line": f"Ray Train workers ready ({torch.distributed.get_backend()})"})
    folder = loop_config["checkpoints"]
    result = fit_rank(
        framework_of(spec).build(spec, seed=config.seed),
        spec,
        config,
        ray.get(loop_config["train"]),
        ray.get(loop_config["validation"]),
        device=ray.train.torch.get_device(),
        checkpointer=CheckpointDir(folder) if folder is not None else None,
        on_epoch=lambda metrics: messages.put({"epoch": dict(metrics)}),
        on_resume=lambda history: messages.put({"resumed": [dict(m) for m in history]}),
    )
    if rank == 0 and result is not None:
        weights = {k: v.detach().cpu().numpy() for k, v in result.model.state_dict().items()}
        messages.put(
            {"final": {"weights": weights, "history": result.history, "best_epoch": result.best_epoch}}
        )
