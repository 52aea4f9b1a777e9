"""Model specs: the validated, serialisable description from which a model is rebuilt exactly.

A spec is the only thing stored next to the weights, so every field that shapes the network lives here
and unknown fields are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# What a model predicts. A family lists the tasks it does (models/frameworks.py); generation is for families
# that produce samples rather than score inputs.
Task = Literal["classification", "regression", "generation"]

PositiveInt = Annotated[int, Field(ge=1)]
Dropout = Annotated[float, Field(ge=0.0, lt=1.0)]


class FieldError(ValueError):
    """A cross-field check failure that still names the one field the user should change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class BaseSpec(BaseModel):
    """Fields every model needs: what it predicts and the per-sample shape it reads."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    task: Task
    input_shape: Annotated[list[PositiveInt], Field(min_length=1)]
    num_outputs: PositiveInt
    normalize: bool = True

    @model_validator(mode="after")
    def _check_outputs(self) -> BaseSpec:
        if self.task == "classification" and self.num_outputs < 2:
            raise FieldError("num_outputs", "classification needs num_outputs >= 2 (the number of classes)")
        return self

    @property
    def num_features(self) -> int:
        return math.prod(self.input_shape)


def _check_view(name: str, view: list[int] | None, rank: int, features: int) -> None:
    if view is None:
        return
    if len(view) != rank:
        raise FieldError(name, f"{name} must have {rank} entries, got {view}")
    if math.prod(view) != features:
        raise FieldError(
            name,
            f"{name} {view} holds {math.prod(view)} values but input_shape holds {features}; "
            "make their products equal",
        )


class MLPSpec(BaseSpec):
    kind: Literal["mlp"]
    hidden: list[PositiveInt] = [128, 64]
    activation: Literal["relu", "gelu", "tanh"] = "relu"
    dropout: Dropout = 0.1
    batch_norm: bool = False


class CNNSpec(BaseSpec):
    kind: Literal["cnn"]
    image_shape: list[PositiveInt] | None = None
    channels: Annotated[list[PositiveInt], Field(min_length=1)] = [32, 64]
    kernel_size: PositiveInt = 3
    pool: PositiveInt = 2
    dense: list[PositiveInt] = [128]
    dropout: Dropout = 0.25
    batch_norm: bool = True

    @model_validator(mode="after")
    def _check_image(self) -> CNNSpec:
        _check_view("image_shape", self.image_shape, 3, self.num_features)
        if self.image_shape is None and len(self.input_shape) not in (2, 3):
            raise FieldError(
                "image_shape",
                f"image_shape is required for input_shape {self.input_shape}: "
                "give the (C, H, W) view of each sample, e.g. [1, 8, 8]",
            )
        return self

    def chw(self) -> tuple[int, int, int]:
        """The (C, H, W) view the convolutions see."""
        if self.image_shape is not None:
            c, h, w = self.image_shape
        elif len(self.input_shape) == 2:
            c, (h, w) = 1, self.input_shape
        else:
            c, h, w = self.input_shape
        return c, h, w


class RNNSpec(BaseSpec):
    kind: Literal["lstm", "gru"]
    sequence_shape: list[PositiveInt] | None = None
    # (C, H, W) view: the steps are the image rows, (T, F) = (H, C*W); sequence_shape takes precedence.
    image_shape: list[PositiveInt] | None = None
    hidden_size: PositiveInt = 64
    num_layers: PositiveInt = 1
    bidirectional: bool = False
    dropout: Dropout = 0.0

    @model_validator(mode="after")
    def _check_sequence(self) -> RNNSpec:
        _check_view("sequence_shape", self.sequence_shape, 2, self.num_features)
        _check_view("image_shape", self.image_shape, 3, self.num_features)
        if self.sequence_shape is None and self.image_shape is None and len(self.input_shape) > 3:
            raise FieldError(
                "sequence_shape",
                f"sequence_shape is required for input_shape {self.input_shape}: give the (T, F) view",
            )
        return self

    def rows_of(self) -> tuple[int, int, int] | None:
        """The (C, H, W) image whose rows form the sequence, or None when the input is reshaped as is."""
        if self.sequence_shape is not None:
            return None
        if self.image_shape is not None:
            c, h, w = self.image_shape
            return c, h, w
        if len(self.input_shape) == 3:
            c, h, w = self.input_shape
            return c, h, w
        return None

    def tf(self) -> tuple[int, int]:
        """The (T, F) sequence the recurrent layers read."""
        if self.sequence_shape is not None:
            t, f = self.sequence_shape
            return t, f
        rows = self.rows_of()
        if rows is not None:
            return rows[1], rows[0] * rows[2]
        if len(self.input_shape) == 2:
            t, f = self.input_shape
            return t, f
        return self.num_features, 1


class LogRegSpec(BaseSpec):
    kind: Literal["logreg"]
    C: Annotated[float, Field(gt=0)] = 1.0
    max_iter: PositiveInt = 1000

    @field_validator("task")
    @classmethod
    def _classification_only(cls, task: str) -> str:
        if task != "classification":
            raise ValueError(
                "logreg is classification only; for regression use gbdt, random_forest, svm or mlp"
            )
        return task


class RandomForestSpec(BaseSpec):
    kind: Literal["random_forest"]
    n_estimators: PositiveInt = 200
    max_depth: PositiveInt | None = None
    min_samples_leaf: PositiveInt = 1


def _single_target(spec: BaseSpec) -> None:
    if spec.task == "regression" and spec.num_outputs > 1:
        raise FieldError(
            "num_outputs",
            f"{spec.kind} regression predicts one target, got num_outputs={spec.num_outputs}; "
            "use random_forest or mlp for several targets",
        )


class SVMSpec(BaseSpec):
    kind: Literal["svm"]
    C: Annotated[float, Field(gt=0)] = 1.0
    kernel: Literal["rbf", "linear", "poly"] = "rbf"
    gamma: Literal["scale", "auto"] | float = "scale"

    @field_validator("gamma", mode="before")
    @classmethod
    def _check_gamma(cls, gamma: Any) -> Any:
        # Checked up front so the user sees one message instead of one per union member.
        ok_number = isinstance(gamma, int | float) and not isinstance(gamma, bool) and gamma > 0
        if gamma not in ("scale", "auto") and not ok_number:
            raise ValueError(f"gamma must be 'scale', 'auto' or a number > 0, got {gamma!r}")
        return gamma

    @model_validator(mode="after")
    def _check_targets(self) -> SVMSpec:
        _single_target(self)
        return self


class GBDTSpec(BaseSpec):
    kind: Literal["gbdt"]
    n_estimators: PositiveInt = 200
    learning_rate: Annotated[float, Field(gt=0)] = 0.1
    max_depth: PositiveInt | None = None

    @model_validator(mode="after")
    def _check_targets(self) -> GBDTSpec:
        _single_target(self)
        return self


def _hint(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "remove it (a typo?)"
    if kind == "missing":
        return "add it"
    if kind == "value_error":
        return ""
    return "fix the value"


def format_validation_error(what: str, exc: ValidationError) -> str:
    """One line per problem, naming the field and the fix."""
    parts = []
    for err in exc.errors():
        cause = err.get("ctx", {}).get("error")
        path = ".".join(str(p) for p in err["loc"]) or "spec"
        field = cause.field if isinstance(cause, FieldError) else path
        msg = err["msg"].removeprefix("Value error, ")
        hint = _hint(err)
        parts.append(f"field '{field}': {msg}" + (f"; {hint}" if hint else ""))
    return f"invalid {what}: " + "; ".join(parts)


def spec_to_dict(spec: BaseSpec) -> dict[str, Any]:
    """JSON-safe dict with every field, defaults included, so later default changes cannot alter a model."""
    return spec.model_dump(mode="json")


def image_view(spec: BaseSpec) -> tuple[int, int, int] | None:
    """The (C, H, W) view of a sample for image augmentation, or None when the input is not an image."""
    if isinstance(spec, CNNSpec):
        return spec.chw()
    if isinstance(spec, RNNSpec) and spec.image_shape is not None:
        c, h, w = spec.image_shape
        return c, h, w
    if len(spec.input_shape) == 2:
        h, w = spec.input_shape
        return 1, h, w
    if len(spec.input_shape) == 3:
        c, h, w = spec.input_shape
        return c, h, w
    return None
