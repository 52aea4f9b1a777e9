"""Search spaces: which hyper-parameters and architecture choices a study samples, checked before any trial.

A space maps a name to a distribution. Names are model spec fields (`hidden`, `dropout`, `C`, ...) or, for
torch models, training fields (`lr`, `batch_size`, ...). In a YAML file:

    lr: {low: 1.0e-4, high: 1.0e-1, log: true}     # a range (int or float, from the field's type)
    optimizer: [adam, sgd]                         # choices
    hidden: {layers: [1, 3], width: [32, 256], log: true}   # architecture: depth, then each width
    activation: gelu                               # fixed for every trial
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import optuna
from pydantic import TypeAdapter, ValidationError

from modelplane.errors import Invalid
from modelplane.models.frameworks import family, framework
from modelplane.training.config import TrainConfig
from modelplane.tuning.distributions import (
    DISTRIBUTION_TYPES,
    AnyDistribution,
    Categorical,
    Distribution,
    FloatRange,
    IntRange,
    Layers,
)

FieldKind = Literal["float", "int", "choice", "list"]
# Spec fields fixed by the dataset, not by the searcher.
_STRUCTURAL = frozenset({"kind", "task", "input_shape", "num_outputs", "image_shape", "sequence_shape"})
TRAIN_FIELDS = (
    "lr",
    "batch_size",
    "optimizer",
    "momentum",
    "weight_decay",
    "l1",
    "lr_schedule",
    "lr_step_size",
    "lr_gamma",
    "lr_patience",
    "early_stopping_patience",
)
_ADAPTER: TypeAdapter[AnyDistribution] = TypeAdapter(Distribution)

def _leaves(annotation: Any) -> list[Any]:
    """The concrete types inside Annotated/Optional/Union wrappers."""
    if get_origin(annotation) is Annotated:
        return _leaves(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [leaf for arg in get_args(annotation) for leaf in _leaves(arg)]
    return [annotation]


def _field_kind(annotation: Any) -> FieldKind:
    leaves = [leaf for leaf in _leaves(annotation) if leaf is not type(None)]
    if any(get_origin(leaf) is list for leaf in leaves):
        return "list"
    if float in leaves:
        return "float"
    if int in leaves:
        return "int"
    return "choice"


def known_fields(kind: str) -> dict[str, FieldKind]:
    """Every name a space for `kind` may use, with the type of value it takes."""
    spec_fields = family(kind).spec.model_fields
    fields = {n: _field_kind(f.annotation) for n, f in spec_fields.items() if n not in _STRUCTURAL}
    if _trains_in_epochs(kind):
        fields.update({n: _field_kind(TrainConfig.model_fields[n].annotation) for n in TRAIN_FIELDS})
    return dict(sorted(fields.items()))


def _normalise(name: str, raw: Any, kind: FieldKind) -> dict[str, Any]:
    """YAML shorthand -> a distribution mapping with an explicit `type`."""
    if isinstance(raw, Mapping):
        data = dict(raw)
        if "type" in data:
            return data
        if "layers" in data or "width" in data:
            return {"type": "layers", **data}
        if "choices" in data:
            return {"type": "categorical", **data}
        if "value" in data:
            return {"type": "fixed", **data}
        if "low" in data or "high" in data:
            return {"type": "int" if kind == "int" else "float", **data}
        raise Invalid(
            f"search space: '{name}' {data} is not a distribution; give {{low, high}}, a list of choices, "
            "{layers, width} or a single value"
        )
    if isinstance(raw, list) and kind != "list":
        return {"type": "categorical", "choices": raw}
    return {"type": "fixed", "value": raw}


def _check_fits(name: str, dist: AnyDistribution, kind: FieldKind, known: Mapping[str, FieldKind]) -> None:
    lists = ", ".join(n for n, k in known.items() if k == "list") or "none for this model"
    if isinstance(dist, Layers) and kind != "list":
        raise Invalid(f"search space: '{name}' is not a list of layer sizes; layers/width fit {lists}")
    if isinstance(dist, FloatRange | IntRange | Categorical) and kind == "list":
        raise Invalid(
            f"search space: '{name}' is a list of layer sizes; search it with "
            f"{{layers: [1, 3], width: [32, 256]}} or fix it with a list like [128, 64]"
        )
    if isinstance(dist, FloatRange) and kind == "int":
        raise Invalid(
            f"search space: '{name}' takes whole numbers; give an int range such as {{low: 1, high: 8}}"
        )
    if isinstance(dist, FloatRange | IntRange) and kind == "choice":
        raise Invalid(f"search space: '{name}' takes one of a set of values; give them as a list of choices")


def _describe(exc: ValidationError) -> str:
    """Pydantic's errors without the distribution tag in the path ('float.low' -> 'low')."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if p not in DISTRIBUTION_TYPES]
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        parts.append(f"{'.'.join(loc)}: {message}" if loc else message)
    return "; ".join(parts)


@dataclass(frozen=True)
class SearchSpace:
    """A validated space; `sample` turns one Optuna trial into spec and training overrides."""

    params: dict[str, AnyDistribution]

    def sample(self, trial: optuna.Trial) -> tuple[dict[str, Any], dict[str, Any]]:
        spec: dict[str, Any] = {}
        train: dict[str, Any] = {}
        for name, dist in self.params.items():
            (train if name in TRAIN_FIELDS else spec)[name] = dist.suggest(trial, name)
        return spec, train

    def to_dict(self) -> dict[str, Any]:
        return {name: dist.model_dump(mode="json") for name, dist in self.params.items()}


def parse_space(raw: Mapping[str, Any], kind: str, check: Callable[[str, Any], None]) -> SearchSpace:
    """Validate a space for model `kind`; `check(name, value)` must raise Invalid for a value the model or
    training config refuses, and is called with the extremes of every distribution (e.g. dropout's high)."""
    if not isinstance(raw, Mapping) or not raw:
        raise Invalid("search space must be a non-empty mapping of hyper-parameter -> distribution")
    known = known_fields(kind)
    params: dict[str, AnyDistribution] = {}
    for name, entry in raw.items():
        if name not in known:
            only_torch = " (training fields such as lr apply to torch models only)"
            hint = "" if _trains_in_epochs(kind) else only_torch
            raise Invalid(
                f"search space: unknown hyper-parameter {name!r} for {kind}{hint}; known: {', '.join(known)}"
            )
        data = _normalise(name, entry, known[name])
        if data.get("type") not in DISTRIBUTION_TYPES:
            raise Invalid(
                f"search space: '{name}' has distribution type {data.get('type')!r}; "
                f"use one of {', '.join(DISTRIBUTION_TYPES)}"
            )
        try:
            dist = _ADAPTER.validate_python(data)
        except ValidationError as exc:
            raise Invalid(f"search space: '{name}': {_describe(exc)}") from None
        _check_fits(name, dist, known[name], known)
        for value in dist.corners():
            check(name, value)
        params[name] = dist
    return SearchSpace(params)


def default_space(kind: str) -> dict[str, Any]:
    """The space searched when no space file is given: the hyper-parameters that matter most per model."""
    fam = family(kind)
    space = fam.tuning_space if fam.tuning_space is not None else framework(fam.framework).default_space
    return dict(space)


def _trains_in_epochs(kind: str) -> bool:
    """Whether `kind` trains epoch by epoch with a TrainConfig, whose fields a space may then tune."""
    return framework(family(kind).framework).trains_in_epochs
