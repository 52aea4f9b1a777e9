"""Data-parallel training of the torch zoo: the loop one rank runs, in a process whose torch.distributed
process group is already up (started by the local launcher, training/launcher.py, or by Ray Train).

Every rank holds the whole training split and draws its share of each epoch from a DistributedSampler
(the run's seed, reshuffled per epoch); DistributedDataParallel averages the gradients, and each rank's
loss is weighted by its share of the global batch, so a step is the step one process would take on the
same global batch (batch-norm statistics aside, which each rank keeps over its own share). Rank 0
evaluates, keeps the checkpoints and reports; it broadcasts each epoch's metrics so early stopping and the
learning-rate schedule move identically on every rank. With config.shard the model is sharded (FSDP2,
training/sharding.py) instead of copied, and what a checkpoint or the result holds is gathered whole.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

from modelplane.errors import Invalid
from modelplane.models.spec import BaseSpec
from modelplane.models.torch_zoo import set_normalization
from modelplane.training.arrays import Arrays
from modelplane.training.checkpoints import Checkpointer
from modelplane.training.config import TrainConfig, check_config_for_spec
from modelplane.training.torch_trainer import (
    FitResult,
    _batch_bounds,
    _to_tensors,
    _Trainer,
    conclude_epoch,
    feature_stats,
)

T = TypeVar("T")
# Far apart, so rank r's dropout and augmentation streams never replay another rank's (rank 0 keeps the seed
# a single process would use).
_RANK_SEED_STRIDE = 1_000_003


def rank_seed(seed: int, rank: int) -> int:
    return seed + rank * _RANK_SEED_STRIDE


def broadcast(value: T, src: int = 0) -> T:
    """`value` as rank `src` has it, on every rank (pickled by torch.distributed; our own objects only)."""
    box: list[Any] = [value]
    dist.broadcast_object_list(box, src=src)
    result: T = box[0]
    return result


class _RankTrainer(_Trainer):
    """A _Trainer whose training steps run under DistributedDataParallel (or, sharded, FSDP2) on this
    rank's share of each global batch; evaluation and early stopping are the single-process ones, and the
    checkpoint state too, gathered whole when sharded."""

    def __init__(
        self, model: nn.Module, spec: BaseSpec, config: TrainConfig, device: torch.device, n_train: int
    ) -> None:
        self.sharded = config.shard
        if self.sharded:
            from modelplane.training.sharding import shard

            shard(model)  # before the optimizer is built over its (now sharded) parameters
        super().__init__(model, spec, config, device)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        if self.augmenter is not None:
            self.augmenter.generator.manual_seed(rank_seed(config.seed, self.rank) + 1)
        self.net: nn.Module = (
            model
            if self.sharded
            else DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        )
        # It only needs len(): the sample indices themselves are its dataset.
        self.sampler: DistributedSampler[int] = DistributedSampler(
            cast("Dataset[int]", range(n_train)),
            num_replicas=self.world,
            rank=self.rank,
            shuffle=True,
            seed=config.seed,
        )
        # Global batches over the sampler's padded epoch (world * per-rank samples); position p of a global
        # batch belongs to rank p % world, as DistributedSampler deals them out.
        self.padded = self.sampler.num_samples * self.world
        self.bounds = _batch_bounds(self.padded, config.batch_size, min_last=2 * self.world)

    def train_epoch(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """The mean training loss over the epoch's (padded) global sample, the same on every rank."""
        net, optimizer, augmenter, world, rank = (
            self.net,
            self.optimizer,
            self.augmenter,
            self.world,
            self.rank,
        )
        task_loss, l1 = self.loss_fn, self.config.l1
        net.train()
        mine = torch.tensor(list(self.sampler), dtype=torch.long, device=self.device)
        total = torch.zeros((), device=self.device)
        for start, stop in self.bounds:
            lo, hi = -(-(start - rank) // world), -(-(stop - rank) // world)  # my positions in [start, stop)
            idx = mine[lo:hi]
            xb = x[idx].float()
            if augmenter is not None:
                xb = augmenter(xb)
            loss = task_loss(net(xb), y[idx])
            total.add_(loss.detach(), alpha=hi - lo)
            # DDP averages gradients over ranks: weighting by my share makes that the global batch's mean.
            loss = loss * ((hi - lo) * world / (stop - start))
            if l1:
                loss = loss + l1 * sum(p.abs().sum() for p in self.l1_params)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        dist.all_reduce(total)
        return total.item() / self.padded

    def weights_state(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor] | None]:
        if not self.sharded:
            return super().weights_state()
        from modelplane.training.sharding import gathered, whole_tensors

        weights, optimizer = gathered(self.model, self.optimizer)
        best = whole_tensors(self.best.weights) if self.best.weights is not None else None
        return weights, optimizer, best

    def load_weights_state(
        self, model: dict[str, Any], optimizer: dict[str, Any], best: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        if not self.sharded:
            return super().load_weights_state(model, optimizer, best)
        from modelplane.training.sharding import load_whole, sharded_like

        load_whole(self.model, self.optimizer, model, optimizer)
        return sharded_like(best, self.model)


def fit_rank(
    model: nn.Module,
    spec: BaseSpec,
    config: TrainConfig,
    train: Arrays,
    val: Arrays,
    *,
    device: torch.device,
    checkpointer: Checkpointer | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_resume: Callable[[list[dict[str, float]]], None] | None = None,
    initial_weights: Mapping[str, torch.Tensor] | None = None,
) -> FitResult | None:
    """Train `model` as this rank of the initialised default process group; rank 0 returns the FitResult
    (model on the CPU, eval mode, best weights by config.monitor), the other ranks None.

    Every rank passes the same model (built from the same seed), spec, config and full `train`/`val`
    arrays; `device` is this rank's (cuda:LOCAL_RANK under NCCL). config.batch_size is the GLOBAL batch,
    split across the ranks. Only rank 0 uses `checkpointer`, `on_epoch` and `on_resume` (the others may
    pass them or None): it loads the latest checkpoint and broadcasts it, so the ranks need no shared
    disk, writes one checkpoint per epoch holding every rank's RNG state, and calls `on_epoch` after the
    epoch's checkpoint is saved, as fit_torch does. An exception from a callback ends every rank: rank 0
    raises it, the others return None. The global RNG is left as it was.
    """
    check_config_for_spec(config, spec)
    rank, world = dist.get_rank(), dist.get_world_size()
    if config.shard and config.l1 > 0:
        raise Invalid("l1 is not supported with shard (the penalty would see parameter shards); drop one")
    if config.batch_size < world:
        raise Invalid(
            f"batch_size {config.batch_size} is the global batch, split over {world} workers; "
            f"set batch_size to at least {world} or use fewer workers"
        )
    x_train, y_train = _to_tensors(spec, train, "train", device)
    x_val, y_val = _to_tensors(spec, val, "val", device)
    model.to(device)
    resumed: int | None = None
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(rank_seed(config.seed, rank))
        state = broadcast(checkpointer.load_latest() if rank == 0 and checkpointer is not None else None)
        if state is None and initial_weights is not None:
            model.load_state_dict(dict(initial_weights))
        elif state is None and spec.normalize:  # from the full training split: the same on every rank
            set_normalization(model, *feature_stats(np.asarray(train[0])))
        whole = copy.deepcopy(model) if config.shard and rank == 0 else model  # what rank 0 returns
        trainer = _RankTrainer(model, spec, config, device, len(x_train))
        keeps = broadcast(checkpointer is not None)  # a sharded checkpoint is gathered by every rank
        if state is not None:
            resumed = _restore(trainer, state)
            if rank == 0 and on_resume is not None:
                on_resume([dict(entry) for entry in trainer.history])
        for epoch in range((resumed or 0) + 1, config.epochs + 1):
            if trainer.best.stopped:
                break
            metrics = _run_epoch(trainer, epoch, x_train, y_train, x_val, y_val)
            if not _hand_over_epoch(trainer, epoch, metrics, checkpointer, keeps, on_epoch):
                return None
        if trainer.best.weights is not None:
            model.load_state_dict(trainer.best.weights)
        if config.shard:
            from modelplane.training.sharding import gathered_weights

            best = gathered_weights(model)
            if rank == 0:
                whole.load_state_dict(best)
    if rank != 0:
        return None
    return FitResult(
        model=whole.cpu().eval(),
        history=trainer.history,
        best_epoch=trainer.best.epoch,
        stopped_early=trainer.best.stopped,
        resumed_from_epoch=resumed,
    )


def _restore(trainer: _RankTrainer, state: dict[str, Any]) -> int:
    """Every rank takes the checkpoint's weights, optimizer, schedule and history, and its own RNG state
    (a rank the checkpoint has none for, e.g. one written with fewer workers, is seeded from the epoch)."""
    trainer.restore(state)
    epoch = int(state["epoch"])
    ranks = state.get("rank_rng") or []
    if trainer.rank < len(ranks):
        trainer.set_rng_state(ranks[trainer.rank])
    else:
        torch.manual_seed(rank_seed(trainer.config.seed, trainer.rank) + epoch)
    return epoch


def _run_epoch(
    trainer: _RankTrainer,
    epoch: int,
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
) -> dict[str, float]:
    """Train on every rank, evaluate on rank 0, and conclude the epoch on every rank from its metrics."""
    lr = float(trainer.optimizer.param_groups[0]["lr"])
    started = time.perf_counter()
    trainer.sampler.set_epoch(epoch)
    train_loss = trainer.train_epoch(x, y)
    train_seconds = time.perf_counter() - started
    metrics: dict[str, float] | None = None
    if trainer.rank == 0 or trainer.sharded:  # a sharded forward pass needs every rank
        metrics = {"epoch": epoch, "train_loss": train_loss, **trainer.evaluate(x_val, y_val)}
        metrics.update(
            lr=lr,
            seconds=time.perf_counter() - started,
            samples_per_s=len(x) / max(train_seconds, 1e-9),
            workers=trainer.world,
        )
    metrics = broadcast(metrics)
    assert metrics is not None
    conclude_epoch(trainer, metrics)
    return metrics


def _hand_over_epoch(
    trainer: _RankTrainer,
    epoch: int,
    metrics: dict[str, float],
    checkpointer: Checkpointer | None,
    keeps: bool,
    on_epoch: Callable[[dict[str, float]], None] | None,
) -> bool:
    """Rank 0 saves the epoch's checkpoint (with every rank's RNG state) and reports it; whether training
    goes on is broadcast, so a callback that raises on rank 0 (a cancel) stops every rank."""
    rngs: list[Any] | None = [None] * trainer.world if trainer.rank == 0 else None
    dist.gather_object(trainer.rng_state(), rngs, dst=0)
    # Only rank 0 holds the checkpointer; a sharded state is gathered on every rank, so all ask for it.
    wanted = keeps and (trainer.rank == 0 or trainer.sharded)
    state = trainer.state(epoch) if wanted else None
    failure: BaseException | None = None
    if trainer.rank == 0:
        try:
            if checkpointer is not None and state is not None:
                checkpointer.save(epoch, {**state, "rank_rng": rngs, "world_size": trainer.world})
            if on_epoch is not None:
                on_epoch(dict(metrics))
        except BaseException as exc:
            failure = exc
    go_on = broadcast(failure is None)
    if failure is not None:
        raise failure
    return go_on
