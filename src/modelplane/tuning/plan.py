"""A study's settings resolved against the store and validated as a whole, before any trial runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import optuna

from modelplane.data.catalog import get_version
from modelplane.errors import Invalid
from modelplane.models.frameworks import default_spec, family, framework
from modelplane.refs import check_name
from modelplane.store import Store
from modelplane.training.config import parse_train_config
from modelplane.training.runs import RunConfig
from modelplane.tuning.config import Objective, TuneConfig, objective_for
from modelplane.tuning.space import TRAIN_FIELDS, SearchSpace, default_space, parse_space

# TPE models the good and the bad trials once it has seen a few; Optuna's default of 10 random trials
# first would spend half of a 20-trial budget blind, so small budgets start modelling sooner.
_MAX_STARTUP, _MIN_STARTUP = 10, 3


@dataclass(frozen=True)
class StudyPlan:
    """Everything a worker needs to run trials of one study (picklable, for worker processes)."""

    name: str
    config: TuneConfig  # data pinned to NAME@VERSION and the space written out in full
    task: str
    objective: Objective
    space: SearchSpace
    model_name: str
    epochs: int
    by: str

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        return self.objective.direction

    def run_config(self, spec: dict[str, Any], train: dict[str, Any]) -> RunConfig:
        """One trial's run: the fixed settings, the sampled values, and the objective's best-epoch metric."""
        return RunConfig(
            data=self.config.data,
            model=self.config.model,
            name=self.model_name,
            spec={**self.config.spec, **spec},
            train=parse_train_config(_train_fields(self.config, self.objective, train)),
            split=self.config.split,
        )

    def sampler(self, worker: int = 0) -> optuna.samplers.BaseSampler:
        """Each worker process gets its own seed, so parallel workers do not propose the same trials."""
        seed = self.config.seed + worker
        if self.config.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        budget = self.config.trials or 4 * _MAX_STARTUP
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=max(_MIN_STARTUP, min(_MAX_STARTUP, budget // 4)),
            constant_liar=self.config.parallel > 1,  # running trials count as bad, so workers spread out
        )

    def pruner(self) -> optuna.pruners.BasePruner:
        if self.config.pruner == "hyperband":
            return optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=self.epochs, reduction_factor=3
            )
        if self.config.pruner == "median":
            # Below the median of finished trials at the same epoch, from the first epoch on, once a few
            # trials have finished: on digits this stops most bad trials after one or two epochs.
            return optuna.pruners.MedianPruner(n_startup_trials=_MIN_STARTUP, n_warmup_steps=0)
        return optuna.pruners.NopPruner()


def _train_fields(config: TuneConfig, objective: Objective, sampled: dict[str, Any]) -> dict[str, Any]:
    return {**config.train, **sampled, "monitor": objective.monitor, "seed": config.seed}


def make_plan(store: Store, config: TuneConfig, *, name: str, by: str) -> StudyPlan:
    """Check the data, model, metric and every distribution's extremes; raise Invalid naming the fix."""
    fam = family(config.model)  # an unknown kind fails here, before the data is read
    dataset = get_version(store, config.data)
    if dataset.task is None:
        raise Invalid(f"dataset {dataset.ref} has no target column; re-add it with --target COLUMN")
    objective = objective_for(config.metric, dataset.task)
    classes = len(dataset.classes) if dataset.task == "classification" and dataset.classes else 1

    def spec_with(overrides: dict[str, Any]) -> Any:
        return default_spec(
            config.model,
            task=dataset.task,  # type: ignore[arg-type]
            input_shape=dataset.feature_shape,
            num_outputs=classes,
            image_shape=dataset.image_shape,
            overrides={**config.spec, **overrides},
        )

    spec_with({})
    train = parse_train_config(_train_fields(config, objective, {}))

    def check(field: str, value: Any) -> None:
        try:
            if field in TRAIN_FIELDS:
                parse_train_config(_train_fields(config, objective, {field: value}))
            else:
                spec_with({field: value})
        except Invalid as exc:
            raise Invalid(f"search space: '{field}' can reach {value!r}, which is refused: {exc}") from None

    space: SearchSpace = parse_space(config.space or default_space(config.model), config.model, check)
    model_name = check_name(config.model_name or f"{dataset.dataset}-{config.model}", "model")
    pinned = config.model_copy(
        update={"data": dataset.ref, "name": name, "model_name": model_name, "space": space.to_dict()}
    )
    return StudyPlan(
        name=check_name(name, "study"),
        config=pinned,
        task=dataset.task,
        objective=objective,
        space=space,
        model_name=model_name,
        epochs=train.epochs if framework(fam.framework).trains_in_epochs else 1,
        by=by,
    )
