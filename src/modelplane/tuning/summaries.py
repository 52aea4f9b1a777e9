"""Optuna studies and trials turned into the views users see (`tuning.views`)."""

from __future__ import annotations

import warnings

import optuna
from optuna.trial import FrozenTrial, TrialState

from modelplane.tuning.storage import ERROR, RETRY_OF, RUN_ID, SETTINGS_ATTR, VALIDATION, trials_used
from modelplane.tuning.views import StudyInfo, TrialInfo

BEST_TRIAL_ATTR = "best_trial"
VERSION_ATTR = "model_version"
# PED-ANOVA compares the top trials against all of them; with fewer than this the ranking is noise.
MIN_IMPORTANCE_TRIALS = 5
_STATES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}


def trial_view(trial: FrozenTrial, retried: set[int]) -> TrialInfo:
    """`retried`: numbers of trials queued again; such a failed trial shows as interrupted."""
    started, ended = trial.datetime_start, trial.datetime_complete
    return TrialInfo(
        number=trial.number,
        state="interrupted" if trial.number in retried else _STATES[trial.state],
        value=trial.value if trial.state == TrialState.COMPLETE else None,  # pruned: last epoch's proxy
        params=dict(trial.params),
        epochs=len(trial.intermediate_values),
        run_id=trial.user_attrs.get(RUN_ID),
        validation=dict(trial.user_attrs.get(VALIDATION, {})),
        error=trial.user_attrs.get(ERROR),
        retry_of=trial.user_attrs.get(RETRY_OF),
        duration_s=(ended - started).total_seconds() if started and ended else None,
    )


def study_view(study: optuna.Study, *, detail: bool) -> StudyInfo:
    """`detail` adds every trial and the parameter importances (which cost a model fit)."""
    settings = study.user_attrs[SETTINGS_ATTR]
    config = settings["config"]
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs[RETRY_OF] for t in trials if RETRY_OF in t.user_attrs}
    views = [trial_view(t, retried) for t in trials]
    states: dict[str, int] = {}
    for view in views:
        states[view.state] = states.get(view.state, 0) + 1
    best = _best(study)
    importances, note = _importances(study) if detail else (None, None)
    return StudyInfo(
        name=study.study_name,
        model=config["model"],
        data=config["data"],
        model_name=config["model_name"],
        metric=settings["metric"],
        direction=study.direction.name.lower(),
        sampler=config["sampler"],
        pruner=config["pruner"],
        trials_budget=config["trials"],
        timeout_s=config["timeout"],
        trials_done=trials_used(trials),
        states=states,
        best_trial=best.number if best else None,
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else {},
        model_version=study.user_attrs.get(VERSION_ATTR),
        created_at=settings.get("created_at"),
        created_by=settings.get("created_by", ""),
        space=config["space"],
        trials=views if detail else [],
        importances=importances,
        importance_note=note,
    )


def _best(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def _importances(study: optuna.Study) -> tuple[dict[str, float] | None, str | None]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < MIN_IMPORTANCE_TRIALS:
        return None, f"needs {MIN_IMPORTANCE_TRIALS} completed trials, has {len(complete)}"
    if len({t.value for t in complete}) == 1:
        return None, f"every completed trial scored {complete[0].value:.4g}; no parameter made a difference"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna warns about the evaluator being experimental
            found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as exc:
        return None, f"not computable: {exc}"
    if not found:
        return None, "no parameter was sampled in every completed trial"
    return {name: float(value) for name, value in found.items()}, None
