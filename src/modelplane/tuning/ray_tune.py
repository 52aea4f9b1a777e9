"""A study searched on a Ray cluster: the entry point its job's driver actor runs (cluster/driver.py).

`drive` resumes the study to its budget exactly as `modelplane tune --resume` does (stale trials queued
again, the best trial registered as one version), with Ray Tune running the trials (tuning/ray_search.py).
A driver that replaces one that died finds the old driver's trials still RUNNING until their heartbeats
go stale; it waits that long, then queues them again. Importing this module imports no Ray.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState

from modelplane.cluster.driver import Channel
from modelplane.errors import Conflict
from modelplane.store import Store
from modelplane.tuning import storage
from modelplane.tuning.plan import StudyPlan
from modelplane.tuning.studies import resume
from modelplane.tuning.views import StudyInfo, StudyProgress

TARGET = "modelplane.tuning.ray_tune:drive"
_RETRY_S = 1.0


def drive(payload: dict[str, Any], store: Store, channel: Channel) -> dict[str, Any]:
    """Search the study `payload["study"]` with Ray Tune; emits `{"used", "budget", "line"}` per finished
    trial and returns what the job records."""
    name = str(payload["study"])

    def on_trial(progress: StudyProgress) -> None:
        best = "" if progress.best_value is None else f", best {progress.metric} {progress.best_value:.4f}"
        line = f"{progress.used} trial(s) done ({progress.pruned} pruned{best})"
        channel.emit({"used": progress.used, "budget": progress.budget, "line": line})

    def runner(
        store: Store, plan: StudyPlan, limit: int | None, timeout: float | None, report: Callable[[], None]
    ) -> None:
        from modelplane.tuning.ray_search import search

        search(
            store,
            plan,
            limit=limit,
            timeout=timeout,
            on_trial=report,
            channel=channel,
            storage_path=str(payload["storage_path"]),
            experiment=str(payload["experiment"]),
        )

    study = _when_free(
        store,
        name,
        channel,
        lambda: resume(
            store,
            name,
            parallel=payload.get("parallel"),
            timeout=payload.get("timeout"),
            on_trial=on_trial,
            runner=runner,
        ),
    )
    return {"study": study.name, "model_version": study.model_version, "best_value": study.best_value}


def _when_free(store: Store, name: str, channel: Channel, attempt: Callable[[], StudyInfo]) -> StudyInfo:
    """`attempt()`, tried again while trials of a driver that died still look alive (for at most the time
    their heartbeats take to go stale)."""
    deadline = time.monotonic() + storage.GRACE_S + 2 * storage.HEARTBEAT_S
    while True:
        try:
            return attempt()
        except Conflict:
            if time.monotonic() > deadline or not _running(store, name):
                raise
        channel.raise_if_cancelled()
        time.sleep(_RETRY_S)


def _running(store: Store, name: str) -> bool:
    study = optuna.load_study(study_name=name, storage=storage.open_storage(storage.storage_url(store)))
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
