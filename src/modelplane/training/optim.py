"""Optimizer and learning-rate schedule from a TrainConfig."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim import lr_scheduler

from modelplane.training.config import TrainConfig

Scheduler = lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau


def build_optimizer(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """weight_decay is L2 for every optimizer except adamw, where it is decoupled by design."""
    lr, wd = config.lr, config.weight_decay
    name = config.optimizer
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Scheduler | None:
    """Stepped once per epoch; plateau watches config.monitor."""
    if config.lr_schedule == "step":
        return lr_scheduler.StepLR(optimizer, step_size=config.lr_step_size, gamma=config.lr_gamma)
    if config.lr_schedule == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.lr_schedule == "plateau":
        return lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=config.monitor_mode, factor=config.lr_gamma, patience=config.lr_patience
        )
    return None


def step_scheduler(scheduler: Scheduler | None, metrics: dict[str, float], monitor: str) -> None:
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metrics[monitor])
    elif scheduler is not None:
        scheduler.step()
