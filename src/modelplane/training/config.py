"""Training configuration: validated up front so a bad value fails before any compute is spent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from modelplane.errors import Invalid
from modelplane.models.spec import BaseSpec, format_validation_error, image_view

CLASSIFICATION_METRICS = ("train_loss", "val_loss", "val_accuracy")
REGRESSION_METRICS = ("train_loss", "val_loss", "val_mse", "val_mae")
_MIN_WORDS = ("loss", "mse", "mae")


class AugmentConfig(BaseModel):
    """Random image perturbations applied to training batches only."""

    model_config = ConfigDict(extra="forbid")

    shift: int = Field(0, ge=0, description="max translation in pixels")
    rotation: float = Field(0.0, ge=0.0, le=180.0, description="max rotation in degrees")
    noise: float = Field(0.0, ge=0.0, description="gaussian noise std in raw feature units")


class PrepConfig(BaseModel):
    """How a table's columns become features (fitted on the training split only; see tables/prep.py)."""

    model_config = ConfigDict(extra="forbid")

    numeric_impute: Literal["median", "mean", "constant"] = "median"
    numeric_fill: float = Field(0.0, description="the value numeric_impute=constant fills in")
    categorical_impute: Literal["most_frequent", "constant"] = Field(
        "constant", description="constant: a missing category is a category of its own"
    )
    missing_indicator: bool = Field(True, description="a 0/1 feature per column that had missing values")
    encoding: Literal["onehot", "ordinal"] = "onehot"
    max_categories: int = Field(100, ge=2, description="most frequent kept per column; the rest are unknown")


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(15, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw"] = "adam"
    lr: float = Field(2e-3, gt=0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    l1: float = Field(0.0, ge=0.0)
    lr_schedule: Literal["none", "step", "cosine", "plateau"] = "none"
    lr_step_size: int = Field(10, ge=1, description="epochs between decays for the step schedule")
    lr_gamma: float = Field(0.1, gt=0.0, lt=1.0, description="decay factor for step and plateau")
    lr_patience: int = Field(2, ge=0, description="epochs without improvement before plateau decays")
    early_stopping_patience: int | None = Field(None, ge=1)
    monitor: str = "val_loss"
    loss: Literal["auto", "cross_entropy", "mse"] = "auto"
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    workers: int = Field(1, ge=1, description="data-parallel processes (DDP); the global batch is split")
    shard: bool = Field(False, description="shard parameters over the workers (FSDP) instead of copying them")
    augment: AugmentConfig | None = None
    preprocess: PrepConfig = Field(default_factory=lambda: PrepConfig())

    @field_validator("monitor")
    @classmethod
    def _known_metric(cls, monitor: str) -> str:
        known = sorted(set(CLASSIFICATION_METRICS + REGRESSION_METRICS))
        if monitor not in known:
            raise ValueError(f"unknown metric {monitor!r}; monitor one of {', '.join(known)}")
        return monitor

    @field_validator("shard")
    @classmethod
    def _shard_needs_workers(cls, shard: bool, info: ValidationInfo) -> bool:
        if shard and info.data.get("workers", 1) < 2:
            raise ValueError("shard splits the parameters over the workers; set workers to 2 or more")
        return shard

    @property
    def monitor_mode(self) -> Literal["min", "max"]:
        """Losses and errors improve downwards, everything else (accuracy) upwards."""
        return "min" if any(word in self.monitor for word in _MIN_WORDS) else "max"


def parse_train_config(data: Mapping[str, Any]) -> TrainConfig:
    """Validate a mapping into a TrainConfig, raising Invalid that names the field and the fix."""
    try:
        return TrainConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise Invalid(format_validation_error("training config", exc)) from None


def check_config_for_spec(config: TrainConfig, spec: BaseSpec) -> None:
    """Checks that need both the config and the model: loss vs task, monitored metric, augmentation."""
    classify = spec.task == "classification"
    if config.loss == "cross_entropy" and not classify:
        raise Invalid(
            "invalid training config: field 'loss': cross_entropy needs a classification task; use mse"
        )
    if config.loss == "mse" and classify:
        raise Invalid(
            "invalid training config: field 'loss': mse needs a regression task; use cross_entropy or auto"
        )
    metrics = CLASSIFICATION_METRICS if classify else REGRESSION_METRICS
    if config.monitor not in metrics:
        raise Invalid(
            f"invalid training config: field 'monitor': {config.monitor!r} is not reported for {spec.task}; "
            f"use one of {', '.join(metrics)}"
        )
    if config.augment is not None and image_view(spec) is None:
        raise Invalid(
            f"invalid training config: field 'augment': input_shape {spec.input_shape} has no image view; "
            "remove augment, or use a cnn with image_shape"
        )


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA on a machine without it is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise Invalid("device 'cuda' requested but no CUDA GPU is available; use device 'cpu' or 'auto'")
    if name not in ("cpu", "cuda"):
        raise Invalid(f"unknown device {name!r}; use 'auto', 'cpu' or 'cuda'")
    return torch.device(name)
