"""Studies: create or resume one, run its trials within the budget, register the best trial as one version.

Trials train runs that register nothing; when the budget is spent the best trial's run becomes the one new
model version (reusing its kept weights), its params naming the study and trial, and the study records the
version. Resuming a crashed or interrupted study continues to the trial budget, counting finished trials.
"""

from __future__ import annotations

import multiprocessing as mp
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import optuna
from optuna.trial import TrialState

from modelplane.errors import Conflict
from modelplane.refs import Ref
from modelplane.store import Store
from modelplane.training.run_catalog import get_run
from modelplane.training.runs import end_run, register_run
from modelplane.tuning.config import TuneConfig, parse_tune_config
from modelplane.tuning.plan import StudyPlan, make_plan
from modelplane.tuning.progress import study_progress
from modelplane.tuning.storage import (
    ERROR,
    RUN_ID,
    SETTINGS_ATTR,
    load_study,
    open_storage,
    recover_stale,
    storage_url,
    trials_used,
)
from modelplane.tuning.summaries import BEST_TRIAL_ATTR, VERSION_ATTR, study_view
from modelplane.tuning.views import StudyInfo, StudyProgress
from modelplane.tuning.workers import Budget, quiet_optuna, run_parallel, run_trials


class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C during a study: finished trials are kept and the message says how to resume."""


# Runs up to `limit` trials (None: no limit) within `timeout` seconds, calling `report()` as each ends; in
# place of this process's own trial loop (e.g. Ray Tune on a cluster, tuning/ray_search.py).
Runner = Callable[[Store, StudyPlan, int | None, float | None, Callable[[], None]], None]


def tune(
    store: Store,
    config: TuneConfig,
    *,
    by: str = "",
    on_trial: Callable[[StudyProgress], None] | None = None,
) -> StudyInfo:
    """Validate everything, create the study, run its trials, register the best one; `on_trial(progress)`
    is called as trials end."""
    study, plan = _create(store, config, by=by)
    return _run(store, study, plan, on_trial=on_trial)


def create_study(store: Store, config: TuneConfig, *, by: str = "") -> str:
    """Validate everything and create the study without running a trial (a job runs it with `resume`)."""
    return _create(store, config, by=by)[1].name


def _create(store: Store, config: TuneConfig, *, by: str) -> tuple[optuna.Study, StudyPlan]:
    storage = open_storage(storage_url(store))
    existing = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    name = config.name or _next_name(existing, config)
    plan = make_plan(store, config, name=name, by=by)
    if name in existing:
        raise Conflict(
            f"study '{name}' exists; continue it with `modelplane tune --resume {name}` or pick a --name"
        )
    with quiet_optuna():
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=plan.direction,
            sampler=plan.sampler(),
            pruner=plan.pruner(),
        )
    settings = {
        "config": plan.config.model_dump(mode="json"),
        "metric": plan.objective.name,
        "task": plan.task,
        "created_by": by,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    study.set_user_attr(SETTINGS_ATTR, settings)
    return study, plan


def check_resumable(store: Store, name: str) -> None:
    """Before a resume is queued: a finished study fails now, not in the job that would resume it."""
    _refuse_finished(load_study(open_storage(storage_url(store)), name), name)


def _refuse_finished(study: optuna.Study, name: str) -> None:
    if VERSION_ATTR in study.user_attrs:
        raise Conflict(
            f"study '{name}' is finished: trial {study.user_attrs.get(BEST_TRIAL_ATTR)} was registered as "
            f"{study.user_attrs[VERSION_ATTR]}; start a new study to search again"
        )


def resume(
    store: Store,
    name: str,
    *,
    parallel: int | None = None,
    timeout: float | str | None = None,
    on_trial: Callable[[StudyProgress], None] | None = None,
    runner: Runner | None = None,
) -> StudyInfo:
    """Continue a study with its stored settings; `parallel` and `timeout` apply to this session only.
    `on_trial(progress)` is called as trials end (a job reports progress, and is cancelled, there);
    `runner` runs the trials instead of this process's workers."""
    study = load_study(open_storage(storage_url(store)), name)
    _refuse_finished(study, name)
    settings = study.user_attrs[SETTINGS_ATTR]
    session: dict[str, Any] = {
        k: v for k, v in (("parallel", parallel), ("timeout", timeout)) if v is not None
    }
    config = parse_tune_config({**settings["config"], **session})
    plan = make_plan(store, config, name=name, by=settings["created_by"])
    for trial in recover_stale(study):
        if RUN_ID in trial.user_attrs:
            reason = f"the process running trial {trial.number} of study {name} died; --resume runs it again"
            end_run(store, trial.user_attrs[RUN_ID], "interrupted", reason)
    return _run(store, study, plan, on_trial=on_trial, runner=runner)


def _next_name(existing: list[str], config: TuneConfig) -> str:
    """DATA-MODEL-N with the next free N."""
    prefix = f"{Ref.parse(config.data, 'dataset').name}-{config.model}-"
    taken = [int(m.group(1)) for s in existing if (m := re.fullmatch(re.escape(prefix) + r"(\d+)", s))]
    return f"{prefix}{max(taken, default=0) + 1}"


def _run(
    store: Store,
    study: optuna.Study,
    plan: StudyPlan,
    *,
    on_trial: Callable[[StudyProgress], None] | None = None,
    runner: Runner | None = None,
) -> StudyInfo:
    config = plan.config
    used = trials_used(study.get_trials(deepcopy=False))
    limit = None if config.trials is None else config.trials - used

    def report() -> None:
        if on_trial is not None:
            on_trial(study_progress(study, plan))

    try:
        if limit is None or limit > 0:
            if runner is not None:
                runner(store, plan, limit, config.timeout, report)
            elif config.parallel == 1:
                budget = Budget.create(mp.get_context("spawn"), limit, config.timeout)
                with quiet_optuna():
                    run_trials(store, plan, budget, on_trial=report)
            else:
                run_parallel(store, plan, (limit, config.timeout), workers=config.parallel, on_poll=report)
    except KeyboardInterrupt:
        kept = trials_used(study.get_trials(deepcopy=False))
        raise StudyInterrupted(
            f"interrupted; {kept} finished trial(s) are kept: `modelplane tune --resume {plan.name}` goes on"
        ) from None
    _register_best(store, study, plan)
    return study_view(study, detail=True)


def _register_best(store: Store, study: optuna.Study, plan: StudyPlan) -> None:
    """The best trial's run becomes one model version; the study and the version point at each other."""
    trials = study.get_trials(deepcopy=False)
    if not any(t.state == TrialState.COMPLETE for t in trials):
        errors = [t.user_attrs[ERROR] for t in trials if ERROR in t.user_attrs]
        counts = ", ".join(f"{sum(t.state == s for t in trials)} {s.name.lower()}" for s in TrialState)
        raise Conflict(
            f"no trial of study '{plan.name}' completed ({counts})"
            + (f"; first error: {errors[0]}" if errors else "")
            + "; fix the space, or give it more time with "
            + f"`modelplane tune --resume {plan.name} --timeout 30m`"
        )
    best = study.best_trial
    run_id = best.user_attrs[RUN_ID]
    version = get_run(store, run_id).model_version
    if version is None:  # not registered by an earlier session that crashed before linking
        tuning = {
            "study": plan.name,
            "trial": best.number,
            "metric": plan.objective.name,
            "value": best.value,
            "direction": plan.direction,
            "params": dict(best.params),
        }
        version = register_run(store, run_id, params={"tuning": tuning}).model_version
    study.set_user_attr(BEST_TRIAL_ATTR, best.number)
    study.set_user_attr(VERSION_ATTR, version)
