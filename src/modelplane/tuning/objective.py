"""One trial: sample a configuration, train it as an unregistered run, report every epoch to the pruner.

A pruned trial ends its run with status `pruned` (not `failed`) and the trial with Optuna's PRUNED state,
keeping the epochs it ran. A trial cut short by a stop request or Ctrl-C is queued to run again.
"""

from __future__ import annotations

from typing import Any, Protocol

import optuna

from modelplane.errors import Invalid
from modelplane.store import Store
from modelplane.training.runs import StopRun, create_run, fit_run
from modelplane.tuning.plan import StudyPlan
from modelplane.tuning.storage import ERROR, RUN_ID, VALIDATION, retry_trial


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class TrialStopped(Exception):
    """The study was asked to stop while this trial ran; it is queued to run again on resume."""


class TrialRunner:
    """The objective Optuna calls: returns the trial's metric on the validation split."""

    def __init__(self, store: Store, plan: StudyPlan, stop: StopFlag) -> None:
        self.store, self.plan, self.stop = store, plan, stop

    def __call__(self, trial: optuna.Trial) -> float:
        plan = self.plan
        try:
            spec, train = plan.space.sample(trial)
            run_id = create_run(self.store, plan.run_config(spec, train), by=plan.by)
            trial.set_user_attr(RUN_ID, run_id)
            run = fit_run(self.store, run_id, on_epoch=lambda metrics: self._on_epoch(trial, metrics))
        except StopRun as stop:
            if stop.status == "pruned":
                raise optuna.TrialPruned(str(stop)) from None
            retry_trial(trial.study, trial)
            raise TrialStopped(str(stop)) from None
        except KeyboardInterrupt:
            retry_trial(trial.study, trial)
            raise
        except Exception as exc:
            trial.set_user_attr(ERROR, f"{type(exc).__name__}: {exc}")
            raise
        validation = run.metrics["validation"]
        trial.set_user_attr(VALIDATION, scalars(validation))
        value = validation.get(plan.objective.key)
        if value is None:
            raise Invalid(
                f"{plan.objective.name} is undefined on this validation split; use another --metric"
            )
        return float(value)

    def _on_epoch(self, trial: optuna.Trial, metrics: dict[str, float]) -> None:
        epoch = int(metrics["epoch"])
        value = self.plan.objective.intermediate(metrics)
        trial.report(value, epoch)
        name = self.plan.name
        if self.stop.is_set():
            raise StopRun(
                "interrupted",
                f"study {name} stopped during trial {trial.number}; "
                f"`modelplane tune --resume {name}` runs it again",
            )
        # Pruning after the last epoch would save nothing and throw away a finished trial.
        if epoch < self.plan.epochs and trial.should_prune():
            raise StopRun(
                "pruned",
                f"pruned after epoch {epoch} of {self.plan.epochs} ({self.plan.objective.monitor} "
                f"{metrics[self.plan.objective.monitor]:.4g}) by the {self.plan.config.pruner} pruner "
                f"of study {name}, trial {trial.number}",
            )


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
