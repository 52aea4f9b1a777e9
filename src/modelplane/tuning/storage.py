"""Studies live in the platform's own database, in Optuna's tables beside ours.

Optuna keeps its schema version in `alembic_version` and modelplane in `modelplane_schema_version`, so the
two migration histories never meet. Running trials send a heartbeat; a trial whose heartbeat stopped (its
process died) is failed and queued again with the same parameters, and the failed copy does not count
against the trial budget.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.store import Store

HEARTBEAT_S = 5
GRACE_S = 20
MAX_ATTEMPTS = 3  # a trial that keeps killing its process (e.g. out of memory) stops being retried
SETTINGS_ATTR = "modelplane"  # study user attr: the TuneConfig and the resolved dataset
RETRY_OF = "retry_of"  # trial user attr: the number of the trial it repeats
ATTEMPT = "attempt"
RUN_ID = "run_id"  # trial user attr: the run that trained it
ERROR = "error"  # trial user attr: why it failed
VALIDATION = "validation"  # trial user attr: its validation metrics
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def storage_url(store: Store) -> str:
    """The store's URL with its driver resolved (e.g. postgresql -> postgresql+psycopg), password kept."""
    return store.db.engine.url.render_as_string(hide_password=False)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    sqlite = make_url(url).get_backend_name() == "sqlite"
    engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}} if sqlite else {"pool_pre_ping": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats have been "experimental" since 2.x
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
            heartbeat_stale_trial_callback=retry_trial,
        )


def retry_trial(study: optuna.Study, trial: FrozenTrial | optuna.Trial) -> None:
    """Queue a trial that did not finish (crash, interrupt) to run again with the same parameters."""
    attempt = int(trial.user_attrs.get(ATTEMPT, 1)) + 1
    if attempt > MAX_ATTEMPTS:
        return
    study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF: trial.number, ATTEMPT: attempt})


def trials_used(trials: Sequence[FrozenTrial]) -> int:
    """Finished trials that count against the budget: every one except those queued to run again."""
    retried = {t.user_attrs[RETRY_OF] for t in trials if RETRY_OF in t.user_attrs}
    return sum(1 for t in trials if t.state in FINISHED and t.number not in retried)


def load_study(storage: optuna.storages.RDBStorage, name: str) -> optuna.Study:
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise NotFound(f"study '{name}' not found; list studies with `modelplane tune list`") from None
    if SETTINGS_ATTR not in study.user_attrs:
        raise Invalid(f"study '{name}' was not made by modelplane (it has no settings); open it with optuna")
    return study


def study_names(storage: optuna.storages.RDBStorage) -> list[str]:
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    return [s.study_name for s in summaries if SETTINGS_ATTR in s.user_attrs]


def recover_stale(study: optuna.Study) -> list[FrozenTrial]:
    """Fail and requeue trials whose process died, returning them; refuse when another process is still
    running some."""
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    running = [t.number for t in trials if t.state == TrialState.RUNNING]
    if running:
        raise Conflict(
            f"study '{study.study_name}' has trial(s) {', '.join(map(str, running))} running, with a "
            f"heartbeat in the last {GRACE_S}s: another `modelplane tune` is working on it; wait for it, or "
            f"if that process is gone, run --resume again in {GRACE_S}s"
        )
    return [t for t in trials if t.number in before and t.state == TrialState.FAIL]
