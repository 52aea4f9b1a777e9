"""Studies through the Python API on iris: scikit-learn, crash and interrupt recovery, parallel workers."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from modelplane.errors import Conflict
from modelplane.local import Local
from modelplane.tuning import objective, storage
from modelplane.tuning.studies import StudyInterrupted


def test_sklearn_study_searches_the_estimator_hyper_parameters(platform: Local) -> None:
    study = platform.tune(data="iris", model="logreg", trials=3, metric="f1", name="lr-c")
    assert study.states == {"complete": 3} and all(t.epochs == 1 for t in study.trials)
    assert set(study.best_params) == {"C"} and study.metric == "f1"
    best = next(t for t in study.trials if t.number == study.best_trial)
    assert study.best_value == best.validation["f1_macro"]
    version = platform.models.version(study.model_version or "")
    assert version.framework == "sklearn" and version.spec["C"] == study.best_params["C"]
    assert version.params["tuning"]["study"] == "lr-c"


class _Crash(BaseException):
    """Not an Exception: like a killed process, nothing records it, so the trial stays RUNNING."""


def _fail_in_trial(monkeypatch: pytest.MonkeyPatch, number: int, error: BaseException) -> None:
    """The `number`-th trial of this session (counting from 0) raises `error` after its first epoch."""
    original = objective.fit_run
    calls = itertools.count()

    def fit_run(store: Any, run_id: str, *, on_epoch: Any, **kw: Any) -> Any:
        index = next(calls)

        def hook(metrics: dict[str, float]) -> None:
            on_epoch(metrics)
            if index == number:
                raise error

        return original(store, run_id, on_epoch=hook, **kw)

    monkeypatch.setattr(objective, "fit_run", fit_run)


def test_crashed_study_resumes_to_its_budget(platform: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        _fail_in_trial(patch, 2, _Crash())
        with pytest.raises(_Crash):
            platform.tune(data="iris", model="logreg", trials=4, name="crashy")
    crashed = platform.studies.get("crashy")
    assert crashed.states == {"complete": 2, "running": 1} and crashed.model_version is None

    monkeypatch.setattr(storage, "GRACE_S", 30)
    with pytest.raises(Conflict, match="another `modelplane tune` is working on it"):
        platform.tune(resume="crashy")
    monkeypatch.setattr(storage, "GRACE_S", 1)
    time.sleep(2.1)  # older than the grace period even at the 1 s resolution of SQLite's clock
    study = platform.tune(resume="crashy")

    assert study.trials_done == 4 and study.model_version == "iris-logreg@1"
    states = {t.number: t.state for t in study.trials}
    assert states == {0: "complete", 1: "complete", 2: "interrupted", 3: "complete", 4: "complete"}
    retry = next(t for t in study.trials if t.retry_of == 2)
    assert retry.params == study.trials[2].params
    dead = platform.runs.get(study.trials[2].run_id or "")
    assert dead.status == "interrupted" and "--resume runs it again" in (dead.error or "")
    assert len(platform.models.get("iris-logreg").versions) == 1


def test_interrupted_study_keeps_its_trials_and_resumes(
    platform: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        _fail_in_trial(patch, 1, KeyboardInterrupt())
        with pytest.raises(StudyInterrupted, match="--resume iris-logreg-1"):
            platform.tune(data="iris", model="logreg", trials=3)
    interrupted = platform.studies.get("iris-logreg-1")
    assert interrupted.states == {"complete": 1, "interrupted": 1, "waiting": 1}
    run = platform.runs.get(interrupted.trials[1].run_id or "")
    assert run.status == "interrupted"

    study = platform.tune(resume="iris-logreg-1", timeout="5m")
    assert study.trials_done == 3 and study.states["complete"] == 3 and study.model_version


@pytest.mark.slow  # two spawned workers each import torch and scikit-learn (~5 s apiece on 2 cores)
def test_parallel_workers_share_one_budget(platform: Local) -> None:
    study = platform.tune(data="iris", model="logreg", trials=4, parallel=2, name="two-workers")
    assert study.trials_done == 4 and study.states == {"complete": 4} and len(study.trials) == 4
    assert study.model_version == "iris-logreg@1" and len(platform.runs.list()) == 4
