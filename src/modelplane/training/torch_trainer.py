"""Training loop for the torch zoo: seeded, resumable bit-for-bit from any epoch, and lean per batch.

The data lives as tensors on the device, batches are slices of a once-per-epoch shuffled copy (no DataLoader)
and losses are accumulated on the device, so the only host syncs are one per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from modelplane.errors import Invalid
from modelplane.models.spec import BaseSpec, image_view
from modelplane.models.torch_zoo import set_normalization
from modelplane.training.arrays import Arrays, checked_split
from modelplane.training.augment import Augmenter
from modelplane.training.checkpoints import Checkpointer
from modelplane.training.config import TrainConfig, check_config_for_spec, resolve_device
from modelplane.training.optim import build_optimizer, build_scheduler, step_scheduler

_EVAL_BATCH = 1024
_STATS_CHUNK = 8192

# (outputs, targets, inputs) -> loss: a training objective that also sees the batch it was computed on,
# e.g. distillation, whose teacher predicts on the same (augmented) inputs. Validation keeps the task's loss.
TrainLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class FitResult:
    """`model` is on the CPU in eval mode, holding the weights of `best_epoch` (by config.monitor)."""

    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    stopped_early: bool
    resumed_from_epoch: int | None


def feature_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean/std in float64 over two chunked passes: bounded memory, 0 for constant features."""
    n = len(x)
    total = np.zeros(x.shape[1:], np.float64)
    for i in range(0, n, _STATS_CHUNK):
        total += x[i : i + _STATS_CHUNK].sum(axis=0, dtype=np.float64)
    mean = total / n
    squares = np.zeros_like(mean)
    for i in range(0, n, _STATS_CHUNK):
        squares += np.square(x[i : i + _STATS_CHUNK] - mean).sum(axis=0)
    return mean, np.sqrt(squares / n)


def _to_tensors(
    spec: BaseSpec, data: Arrays, split: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checks shapes and labels; uint8 features stay uint8 on the device (4x smaller), cast per batch."""
    x, y = checked_split(spec, data, split)
    xt = torch.from_numpy(x if x.dtype == np.uint8 else np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(y)
    return xt.to(device), yt.to(device)


def _batch_bounds(n: int, batch_size: int, min_last: int = 2) -> list[tuple[int, int]]:
    """Batch slices; a trailing batch under `min_last` samples joins the previous one (batch norm cannot
    train on 1 sample; data-parallel ranks each need 2 of the last batch)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < min_last:
        starts.pop()
    return [(s, starts[i + 1] if i + 1 < len(starts) else n) for i, s in enumerate(starts)]


class _Best:
    """Tracks the monitored metric for early stopping and keeps a copy of the best weights."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.value = math.nan
        self.epoch = 0
        self.bad_epochs = 0
        self.stopped = False
        self.weights: dict[str, torch.Tensor] | None = None

    def update(self, value: float, epoch: int, model: nn.Module) -> None:
        # Comparisons with NaN are False: a diverged epoch never wins, and a real value beats an initial NaN.
        better = value < self.value if self.mode == "min" else value > self.value
        if self.weights is None or better or (math.isnan(self.value) and not math.isnan(value)):
            self.value, self.epoch, self.bad_epochs = value, epoch, 0
            self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1

    def state(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "epoch": self.epoch,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
        }

    def load(self, state: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        self.value, self.epoch = state["value"], state["epoch"]
        self.bad_epochs, self.stopped = state["bad_epochs"], state["stopped"]
        self.weights = weights


def _cpu_copy(obj: Any) -> Any:
    """Deep copy with tensors on the CPU, so a checkpoint neither aliases live state nor pins a device."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_cpu_copy(v) for v in obj)
    return obj


class _Trainer:
    """State of one fit: everything a checkpoint must capture lives here."""

    def __init__(
        self,
        model: nn.Module,
        spec: BaseSpec,
        config: TrainConfig,
        device: torch.device,
        loss: TrainLoss | None = None,
    ) -> None:
        self.model, self.config, self.device = model, config, device
        self.classify = spec.task == "classification"
        self.loss_fn = F.cross_entropy if self.classify else F.mse_loss
        self.train_loss = loss
        self.optimizer = build_optimizer(model.parameters(), config)
        self.scheduler = build_scheduler(self.optimizer, config)
        self.shuffle = torch.Generator()
        self.shuffle.manual_seed(config.seed)
        chw = image_view(spec)
        self.augmenter = (
            Augmenter(config.augment, chw, device, config.seed + 1) if config.augment and chw else None
        )
        # L1 applies to weight matrices and kernels, not to biases or norm scales.
        self.l1_params = [p for p in model.parameters() if p.dim() > 1] if config.l1 > 0 else []
        self.best = _Best(config.monitor_mode)
        self.history: list[dict[str, float]] = []

    def train_epoch(self, x: torch.Tensor, y: torch.Tensor) -> float:
        model, optimizer, augmenter = self.model, self.optimizer, self.augmenter
        task_loss, train_loss = self.loss_fn, self.train_loss
        l1 = self.config.l1
        model.train()
        perm = torch.randperm(len(x), generator=self.shuffle).to(self.device)
        xs, ys = x[perm], y[perm]
        total = torch.zeros((), device=self.device)
        for start, stop in _batch_bounds(len(x), self.config.batch_size):
            xb = xs[start:stop].float()
            if augmenter is not None:
                xb = augmenter(xb)
            out, target = model(xb), ys[start:stop]
            loss = task_loss(out, target) if train_loss is None else train_loss(out, target, xb)
            total.add_(loss.detach(), alpha=stop - start)
            if l1:
                loss = loss + l1 * sum(p.abs().sum() for p in self.l1_params)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return total.item() / len(x)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        other = torch.zeros((), device=self.device)  # correct predictions, or summed absolute error
        for start in range(0, len(x), _EVAL_BATCH):
            out = self.model(x[start : start + _EVAL_BATCH].float())
            target = y[start : start + _EVAL_BATCH]
            if self.classify:
                loss_sum += F.cross_entropy(out, target, reduction="sum")
                other += (out.argmax(dim=1) == target).sum()
            else:
                diff = out - target
                loss_sum += diff.square().sum()
                other += diff.abs().sum()
        loss, other_sum = torch.stack([loss_sum, other]).tolist()
        if self.classify:
            return {"val_loss": loss / len(x), "val_accuracy": other_sum / len(x)}
        count = y.numel()
        return {"val_loss": loss / count, "val_mse": loss / count, "val_mae": other_sum / count}

    def rng_state(self) -> dict[str, torch.Tensor]:
        rng: dict[str, torch.Tensor] = {"torch": torch.get_rng_state(), "shuffle": self.shuffle.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        if self.augmenter is not None:
            rng["augment"] = self.augmenter.generator.get_state()
        return rng

    def set_rng_state(self, rng: Mapping[str, torch.Tensor]) -> None:
        torch.set_rng_state(rng["torch"])
        self.shuffle.set_state(rng["shuffle"])
        if self.device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        if self.augmenter is not None and "augment" in rng:
            self.augmenter.generator.set_state(rng["augment"])

    def weights_state(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor] | None]:
        """(model, optimizer, best weights) as a checkpoint holds them: whole tensors, not shards."""
        return self.model.state_dict(), self.optimizer.state_dict(), self.best.weights

    def load_weights_state(
        self, model: dict[str, Any], optimizer: dict[str, Any], best: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Load what weights_state wrote; returns the best weights as the model holds its own."""
        self.model.load_state_dict(model)
        self.optimizer.load_state_dict(optimizer)
        return {k: v.to(self.device) for k, v in best.items()}

    def state(self, epoch: int) -> dict[str, Any]:
        rng = self.rng_state()
        model, optimizer, best = self.weights_state()
        return _cpu_copy(
            {
                "epoch": epoch,
                "model": model,
                "optimizer": optimizer,
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "history": self.history,
                "early_stopping": self.best.state(),
                "best_model": best,
                "rng": rng,
            }
        )

    def restore(self, state: dict[str, Any]) -> None:
        try:
            weights = self.load_weights_state(state["model"], state["optimizer"], state["best_model"])
            if self.scheduler is not None and state["scheduler"] is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            self.best.load(state["early_stopping"], weights)
            self.history = list(state["history"])
            self.set_rng_state(state["rng"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise Invalid(
                f"checkpoint does not match this model and training config ({exc}); "
                "resume with the spec and config that wrote it, or start from an empty checkpoint folder"
            ) from None


def fit_torch(
    model: nn.Module,
    spec: BaseSpec,
    config: TrainConfig,
    train: Arrays,
    val: Arrays,
    *,
    checkpointer: Checkpointer | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_resume: Callable[[list[dict[str, float]]], None] | None = None,
    loss: TrainLoss | None = None,
    initial_weights: Mapping[str, torch.Tensor] | None = None,
) -> FitResult:
    """Train `model` (built from `spec`) and return it with the best weights by config.monitor.

    With a checkpointer, a state is saved after every epoch and an existing one is resumed from, giving the
    same final weights as an uninterrupted run. The global RNG is left as it was. `loss` replaces the
    task's loss on training batches only (train_loss then reports it); validation metrics stay comparable.
    `on_resume` gets the history a checkpoint restored: a process killed after saving an epoch's checkpoint
    but before `on_epoch` recorded it resumes past that epoch, and this is where its record is made good.
    `initial_weights` (a registered version's state dict) makes this a warm start: training continues from
    them, and the normalisation statistics they hold are kept rather than recomputed from `train`, so a
    fine-tune on a few new rows sees its inputs scaled exactly as the weights expect.
    """
    check_config_for_spec(config, spec)
    device = resolve_device(config.device)
    x_train, y_train = _to_tensors(spec, train, "train", device)
    x_val, y_val = _to_tensors(spec, val, "val", device)
    model.to(device)
    trainer = _Trainer(model, spec, config, device, loss)
    resumed: int | None = None
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        state = checkpointer.load_latest() if checkpointer is not None else None
        if state is not None:
            trainer.restore(state)
            resumed = int(state["epoch"])
            if on_resume is not None:
                on_resume([dict(entry) for entry in trainer.history])
        elif initial_weights is not None:
            model.load_state_dict(dict(initial_weights))
        elif spec.normalize:
            set_normalization(model, *feature_stats(np.asarray(train[0])))
        for epoch in range((resumed or 0) + 1, config.epochs + 1):
            if trainer.best.stopped:
                break
            metrics = _run_epoch(trainer, epoch, x_train, y_train, x_val, y_val)
            if checkpointer is not None:
                checkpointer.save(epoch, trainer.state(epoch))
            if on_epoch is not None:
                on_epoch(dict(metrics))
    if trainer.best.weights is not None:
        model.load_state_dict(trainer.best.weights)
    return FitResult(
        model=model.cpu().eval(),
        history=trainer.history,
        best_epoch=trainer.best.epoch,
        stopped_early=trainer.best.stopped,
        resumed_from_epoch=resumed,
    )


def _run_epoch(
    trainer: _Trainer, epoch: int, x: torch.Tensor, y: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor
) -> dict[str, float]:
    """One epoch: train, evaluate, record, update early stopping and the schedule (in that order)."""
    lr = float(trainer.optimizer.param_groups[0]["lr"])
    started = time.perf_counter()
    train_loss = trainer.train_epoch(x, y)
    train_seconds = time.perf_counter() - started
    metrics: dict[str, float] = {"epoch": epoch, "train_loss": train_loss, **trainer.evaluate(x_val, y_val)}
    metrics.update(
        lr=lr, seconds=time.perf_counter() - started, samples_per_s=len(x) / max(train_seconds, 1e-9)
    )
    conclude_epoch(trainer, metrics)
    return metrics


def conclude_epoch(trainer: _Trainer, metrics: dict[str, float]) -> None:
    """Record an epoch's metrics, then update early stopping and the schedule from them (in that order)."""
    config = trainer.config
    trainer.history.append(metrics)
    trainer.best.update(metrics[config.monitor], int(metrics["epoch"]), trainer.model)
    patience = config.early_stopping_patience
    if patience is not None and trainer.best.bad_epochs >= patience:
        trainer.best.stopped = True
    step_scheduler(trainer.scheduler, metrics, config.monitor)
