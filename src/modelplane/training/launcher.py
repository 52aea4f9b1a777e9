"""Data-parallel training on this machine: N rank processes running fit_rank, watched by the calling
(job) process, which keeps every database write: rank 0 sends it each epoch's metrics and the history a
checkpoint restored, and it calls on_epoch / on_resume itself.

A rank that dies (kill -9, out of memory) ends the others and raises RankLost, a BaseException like
KeyboardInterrupt: the run is marked interrupted and, in a job, the job's process exits unfinished, so the
worker requeues it and the next attempt resumes from the last epoch checkpoint (jobs/pool.py, lease.py).
The ranks die with the process that started them (PR_SET_PDEATHSIG), so a kill -9 of the job leaves none.
"""

from __future__ import annotations

import copy
import os
import queue
import signal
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from torch import nn

from modelplane.cores import die_with_parent, usable_cores
from modelplane.errors import Invalid, ModelplaneError, Notice
from modelplane.models.spec import BaseSpec
from modelplane.training.arrays import Arrays
from modelplane.training.checkpoints import Checkpointer
from modelplane.training.config import TrainConfig, check_config_for_spec, resolve_device
from modelplane.training.rank_lost import RankLost
from modelplane.training.torch_trainer import FitResult

_POLL_S = 0.1
_GRACE_S = 2.0
_RESULT = "result.safetensors"


def workers_to_use(requested: int) -> int:
    """The rank count to start: at most the usable cores, with a Notice when that is fewer than asked.

    Capped because ranks beyond the cores only time-share them and every step waits on the slowest rank
    at the gradient all-reduce, so they slow training down without adding compute; the global batch (and
    so what is learned) does not depend on the rank count.
    """
    cores = usable_cores()
    if requested <= cores:
        return requested
    warnings.warn(
        Notice(f"--workers {requested} is more than the {cores} usable cores; training with {cores} workers"),
        stacklevel=2,
    )
    return cores


def fit_torch_distributed(
    model: nn.Module,
    spec: BaseSpec,
    config: TrainConfig,
    train: Arrays,
    val: Arrays,
    *,
    workers: int,
    checkpointer: Checkpointer | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_resume: Callable[[list[dict[str, float]]], None] | None = None,
    initial_weights: Mapping[str, torch.Tensor] | None = None,
) -> FitResult:
    """fit_torch over `workers` local rank processes (gloo on the CPU; NCCL with one GPU per rank when the
    device resolves to CUDA), each with this process's torch threads // workers (at least 1).

    `model` (built from the run's seed) and the arrays go to every rank (the arrays through shared memory);
    `checkpointer` goes to rank 0 and must pickle (CheckpointDir does). The returned model holds rank 0's
    best weights. A rank's exception is raised here; a rank that dies raises RankLost.
    """
    check_config_for_spec(config, spec)
    device = resolve_device(config.device)
    if device.type == "cuda" and torch.cuda.device_count() < workers:
        raise Invalid(
            f"--workers {workers} on CUDA needs a GPU per worker; {torch.cuda.device_count()} found"
        )
    threads = max(1, torch.get_num_threads() // workers)
    context = mp.get_context("spawn")
    messages: Any = context.Queue()
    shared = [tuple(torch.from_numpy(a) for a in split) for split in (train, val)]
    weights = None if initial_weights is None else {k: v.cpu() for k, v in initial_weights.items()}
    with tempfile.TemporaryDirectory(prefix="modelplane-ddp-") as scratch:
        setup = _Setup(_free_port(), workers, threads, device.type, os.getpid(), Path(scratch))
        ranks = [
            context.Process(
                target=_rank_main,
                # A copy each: tensors handed to a spawned process are shared, not copied.
                args=(
                    setup,
                    rank,
                    messages,
                    copy.deepcopy(model),
                    spec,
                    config,
                    shared,
                    checkpointer,
                    weights,
                ),
                name=f"modelplane-rank-{rank}",
            )
            for rank in range(workers)
        ]
        summary: dict[str, Any] | None = None
        try:
            for process in ranks:
                process.start()
            summary = _watch(ranks, messages, on_epoch, on_resume)
        finally:
            _end(ranks, finished=summary is not None)
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(Path(scratch) / _RESULT)))
    return FitResult(model=model.cpu().eval(), **summary)


class _Setup:
    """What every rank needs to join the group (picklable)."""

    def __init__(self, port: int, world: int, threads: int, device: str, parent: int, scratch: Path) -> None:
        self.port, self.world, self.threads, self.device = port, world, threads, device
        self.parent, self.scratch = parent, scratch


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _watch(
    ranks: list[Any],
    messages: Any,
    on_epoch: Callable[[dict[str, float]], None] | None,
    on_resume: Callable[[list[dict[str, float]]], None] | None,
) -> dict[str, Any]:
    """Relay rank 0's reports until it hands over its result; a dead rank or a rank's error ends the wait."""
    while True:
        try:
            kind, payload = messages.get(timeout=_POLL_S)
        except queue.Empty:
            lost = _lost(ranks, exited=True)
            if lost is None:
                continue
            try:  # what a rank sent just before the end may still be on its way
                kind, payload = messages.get(timeout=_GRACE_S)
            except queue.Empty:
                raise RankLost(lost) from None
        if kind == "epoch" and on_epoch is not None:
            on_epoch(payload)
        elif kind == "resume" and on_resume is not None:
            on_resume(payload)
        elif kind == "error":
            # A peer's death shows on the others as a connection error, possibly before the dead peer's
            # exit status is there to read: give it the grace to appear before calling the error a bug.
            deadline = time.monotonic() + _GRACE_S
            while (lost := _lost(ranks, exited=False)) is None and time.monotonic() < deadline:
                time.sleep(_POLL_S / 10)
            if lost is not None:
                raise RankLost(lost)
            raise payload
        elif kind == "done":
            summary: dict[str, Any] = payload
            return summary


def _lost(ranks: list[Any], *, exited: bool) -> str | None:
    """What happened to a rank killed by a signal, or (`exited`) to one that ended without a word."""
    for rank, process in enumerate(ranks):
        code = process.exitcode
        if code is not None and (code < 0 or (exited and code != 0)):
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            return f"training rank {rank} (process {process.pid}) {how}"
    if exited and all(process.exitcode is not None for process in ranks):
        return "every training rank exited before handing over the model"
    return None


def _end(ranks: list[Any], *, finished: bool) -> None:
    """After a finished fit the ranks get a moment to exit on their own; otherwise, and then, any left is
    killed (a rank holds nothing a kill can spoil: checkpoints are written atomically)."""
    for process in ranks:
        if finished and process.pid is not None:
            process.join(timeout=10)
    for process in ranks:
        if process.pid is not None and process.is_alive():
            process.kill()
            process.join()


def _rank_main(
    setup: _Setup,
    rank: int,
    messages: Any,
    model: nn.Module,
    spec: BaseSpec,
    config: TrainConfig,
    shared: list[tuple[torch.Tensor, torch.Tensor]],
    checkpointer: Checkpointer | None,
    initial_weights: Mapping[str, torch.Tensor] | None,
) -> None:
    die_with_parent(setup.parent)
    import torch.distributed as dist

    from modelplane.training.distributed import fit_rank

    torch.set_num_threads(setup.threads)
    cuda = setup.device == "cuda"
    device = torch.device(f"cuda:{rank}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(
            "nccl" if cuda else "gloo",
            init_method=f"tcp://127.0.0.1:{setup.port}",
            rank=rank,
            world_size=setup.world,
        )
        (x, y), (x_val, y_val) = shared
        result = fit_rank(
            model,
            spec,
            config,
            (x.numpy(), y.numpy()),
            (x_val.numpy(), y_val.numpy()),
            device=device,
            checkpointer=checkpointer,
            on_epoch=lambda metrics: messages.put(("epoch", metrics)),
            on_resume=lambda history: messages.put(("resume", history)),
            initial_weights=initial_weights,
        )
        if result is not None:
            from safetensors.torch import save_file

            state = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
            save_file(state, str(setup.scratch / _RESULT))
            summary = {
                "history": result.history,
                "best_epoch": result.best_epoch,
                "stopped_early": result.stopped_early,
                "resumed_from_epoch": result.resumed_from_epoch,
            }
            messages.put(("done", summary))
        dist.barrier()  # no rank tears the group down while another still uses it
        dist.destroy_process_group()
    except Exception as exc:
        shown = exc if isinstance(exc, ModelplaneError) else RuntimeError(f"training rank {rank}: {exc!r}")
        messages.put(("error", shown))
        messages.close()
        messages.join_thread()
        os._exit(1)
