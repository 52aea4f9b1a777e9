"""A study's trials run by Ray Tune: Optuna's sampler through OptunaSearch, ASHA early stopping.

Imported only on the Ray path (by tuning/ray_tune.py, inside the driver actor): it imports Ray.

The searcher asks and tells the study in the platform's own database (OptunaSearch's `study_name` and
`storage`), so trials land in the tables the embedded path writes, with its user attributes (run id,
validation metrics, error) set by the trial itself. Three things differ from stock OptunaSearch, each to keep
the embedded semantics: intermediate values are reported per epoch (not per Tune iteration); a trial that
ASHA stopped is told PRUNED (stock OptunaSearch would tell it COMPLETE with its last epoch's proxy); and a
trial cut short by a cancel is queued to run again, as Ctrl-C does embedded. A trial's value is its
validation metric (reported once, with its last epoch), not the per-epoch proxy ASHA compares.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from modelplane.cluster.driver import Channel
from modelplane.errors import Invalid
from modelplane.store import Store
from modelplane.training.runs import create_run, end_run, fit_run
from modelplane.tuning.objective import scalars
from modelplane.tuning.plan import StudyPlan
from modelplane.tuning.storage import (
    ERROR,
    HEARTBEAT_S,
    RUN_ID,
    VALIDATION,
    open_storage,
    retry_trial,
    storage_url,
)
from modelplane.tuning.workers import quiet_optuna

SCORE, EPOCH, MONITOR, VALUE = "score", "epoch", "monitor", "value"  # keys of a trial's Tune results
TRIAL = "optuna_trial"  # config key: the trial's number in the study
CPUS_PER_TRIAL = 1
# ASHA keeps the best 1/3 at each rung (epochs 1, 3, 9, ...), as the hyperband pruner does embedded.
REDUCTION_FACTOR = 3


def search(
    store: Store,
    plan: StudyPlan,
    *,
    limit: int | None,
    timeout: float | None,
    on_trial: Callable[[], None],
    channel: Channel,
    storage_path: str,
    experiment: str,
) -> None:
    """Run up to `limit` trials (within `timeout` s: no trial starts after it) as one Tune experiment;
    stops when the channel is cancelled. Raises the first error that was not a refused configuration."""
    searcher = StudySearch(store, plan, channel, on_trial, timeout)
    channel.remember("experiment", experiment)
    trainable = tune.with_resources(
        tune.with_parameters(_run_trial, plan=plan, handover=store.handover()), {"cpu": CPUS_PER_TRIAL}
    )
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler(plan),
            num_samples=-1 if limit is None else limit,
            max_concurrent_trials=plan.config.parallel,
            reuse_actors=True,  # a trial actor imports torch once, not once per trial
        ),
        run_config=tune.RunConfig(
            name=experiment,
            storage_path=storage_path,
            stop=_Cancel(channel),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
        ),
    )
    beating = threading.Event()
    heart = threading.Thread(target=searcher.beat, args=(beating,), name="trial-heartbeats", daemon=True)
    heart.start()
    try:
        with quiet_optuna():
            results = tuner.fit()
    finally:
        beating.set()
        heart.join()
    if channel.cancelled:
        searcher.interrupt_unfinished()
        channel.raise_if_cancelled()
    for error in results.errors:
        cause = getattr(error, "cause", None) or error
        if not isinstance(cause, Invalid):  # a refused configuration fails its trial alone
            raise RuntimeError(f"a trial of study {plan.name} failed on Ray: {type(cause).__name__}: {cause}")


def scheduler(plan: StudyPlan) -> TrialScheduler:
    """ASHA on the study's per-epoch proxy, unless the study prunes nothing."""
    if plan.config.pruner == "none" or plan.epochs < 2:
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr=EPOCH,
        metric=SCORE,
        mode=_mode(plan),
        max_t=plan.epochs,
        grace_period=1,
        reduction_factor=REDUCTION_FACTOR,
    )


def _mode(plan: StudyPlan) -> str:
    return "max" if plan.direction == "maximize" else "min"


class _Cancel(tune.Stopper):
    """Ends the experiment when the job is cancelled (its running trials are queued to run again)."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.channel.cancelled

    def __getstate__(self) -> dict[str, Any]:
        return {}  # see StudySearch.__getstate__


class StudySearch(OptunaSearch):
    """OptunaSearch on the study itself, recording trials as the embedded path does (module docstring)."""

    def __init__(
        self,
        store: Store,
        plan: StudyPlan,
        channel: Channel,
        on_trial: Callable[[], None],
        timeout: float | None,
    ) -> None:
        self.store, self.plan, self.channel, self.on_trial = store, plan, channel, on_trial
        self.study_storage = open_storage(storage_url(store))
        self.study_id = self.study_storage.get_study_id_from_name(plan.name)
        self.deadline = None if timeout is None else time.time() + timeout
        self.storage_ids: dict[int, int] = {}  # trial number -> storage id, of trials not yet told
        self.reported: dict[str, set[int]] = {}
        self.tune_ids: list[str] = []
        super().__init__(
            space=self._sample,
            metric=SCORE,
            mode=_mode(plan),
            sampler=plan.sampler(),
            study_name=plan.name,
            storage=self.study_storage,
        )

    def _sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Define-by-run: the study's own space; the trial gets the spec and training overrides to run."""
        spec, train = self.plan.space.sample(trial)
        self.storage_ids[trial.number] = self.study_storage.get_trial_id_from_study_id_trial_number(
            self.study_id, trial.number
        )
        self.study_storage.record_heartbeat(self.storage_ids[trial.number])
        return {"spec": spec, "train": train, TRIAL: trial.number}

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the study in the platform's database is the search's state."""

    def __getstate__(self) -> dict[str, Any]:
        """Tune pickles its config with the experiment, for a `Tuner.restore` that modelplane never does (a
        resume continues the study from the database); the store and the channel stay in this process."""
        return {}

    @property
    def study(self) -> optuna.Study:
        assert self._ot_study is not None  # made in __init__, as the space is given there
        return self._ot_study

    def suggest(self, trial_id: str) -> dict[Any, Any] | None:
        if self.channel.cancelled or (self.deadline is not None and time.time() >= self.deadline):
            # As embedded: no trial starts after the timeout, running ones finish. Searcher documents
            # FINISHED as a return value; its annotation omits it.
            return Searcher.FINISHED  # type: ignore[return-value]
        config = super().suggest(trial_id)
        self.tune_ids.append(trial_id)
        self.channel.remember("trials", list(self.tune_ids))
        return config

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self._report(trial_id, result)

    def _report(self, trial_id: str, result: dict[str, Any]) -> None:
        epoch = int(result[EPOCH])
        seen = self.reported.setdefault(trial_id, set())
        if epoch not in seen:
            self._ot_trials[trial_id].report(float(result[SCORE]), epoch)
            seen.add(epoch)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        trial = self._ot_trials[trial_id]
        if result and EPOCH in result:
            self._report(trial_id, result)
        storage_id = self.storage_ids.pop(trial.number)
        run_id = self.study_storage.get_trial(storage_id).user_attrs.get(RUN_ID)
        if not error and result and VALUE in result:
            self.study.tell(trial, float(result[VALUE]))
        elif error:
            self.study.tell(trial, state=TrialState.FAIL)
        elif self.channel.cancelled:
            self._interrupt(trial, storage_id, run_id)
        else:
            self.study.tell(trial, state=TrialState.PRUNED)
            if run_id is not None:
                end_run(self.store, run_id, "pruned", self._pruned_reason(trial.number, result or {}))
        self._completed_trials.add(trial_id)
        self.on_trial()

    def interrupt_unfinished(self) -> None:
        """After a cancel: Tune ends an experiment's running trials without telling the searcher, so each
        one still open is queued to run again here, as Ctrl-C does embedded."""
        for trial_id, trial in list(self._ot_trials.items()):
            if trial_id not in self._completed_trials:
                storage_id = self.storage_ids.pop(trial.number)
                self._interrupt(
                    trial, storage_id, self.study_storage.get_trial(storage_id).user_attrs.get(RUN_ID)
                )
                self._completed_trials.add(trial_id)

    def _interrupt(self, trial: optuna.Trial, storage_id: int, run_id: str | None) -> None:
        retry_trial(self.study, self.study_storage.get_trial(storage_id))
        self.study.tell(trial, state=TrialState.FAIL)
        if run_id is not None:
            name = self.plan.name
            reason = f"study {name} stopped during trial {trial.number}"
            end_run(
                self.store,
                run_id,
                "interrupted",
                f"{reason}; `modelplane tune --resume {name}` runs it again",
            )

    def _pruned_reason(self, number: int, result: dict[str, Any]) -> str:
        plan, epoch = self.plan, result.get(EPOCH, 0)
        monitor = f" ({plan.objective.monitor} {result[MONITOR]:.4g})" if MONITOR in result else ""
        return (
            f"pruned after epoch {epoch} of {plan.epochs}{monitor} by Ray Tune's ASHA scheduler "
            f"of study {plan.name}, trial {number}"
        )

    def beat(self, stop: threading.Event) -> None:
        """Heartbeats for the trials this search runs: if the driver dies, they go stale and a resume
        queues them again (Tune's trial actors die with it)."""
        while not stop.wait(HEARTBEAT_S):
            for storage_id in list(self.storage_ids.values()):
                self.study_storage.record_heartbeat(storage_id)


def _run_trial(config: dict[str, Any], *, plan: StudyPlan, handover: dict[str, Any]) -> None:
    """One trial in a Tune trial actor: train its run, report each epoch, and its value with the last."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(CPUS_PER_TRIAL)
    store = Store.from_handover(handover)
    try:
        with threadpool_limits(limits=CPUS_PER_TRIAL), quiet_optuna():
            _fit_trial(store, plan, config)
    finally:
        store.close()


def _fit_trial(store: Store, plan: StudyPlan, config: dict[str, Any]) -> None:
    storage = open_storage(storage_url(store))
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(plan.name), int(config[TRIAL])
    )
    last: dict[str, float] = {}

    def on_epoch(metrics: dict[str, float]) -> None:
        last.update(
            {
                EPOCH: int(metrics["epoch"]),
                SCORE: plan.objective.intermediate(metrics),
                MONITOR: float(metrics[plan.objective.monitor]),
            }
        )
        # The last epoch is reported with the trial's value: ASHA stops a trial at max_t, before a later
        # report could arrive. A stopped trial's report raises SystemExit here; its driver ends the run.
        if last[EPOCH] < plan.epochs:
            tune.report(dict(last))

    try:
        run_id = create_run(store, plan.run_config(config["spec"], config["train"]), by=plan.by)
        storage.set_trial_user_attr(trial_id, RUN_ID, run_id)
        run = fit_run(store, run_id, on_epoch=on_epoch)
        validation = run.metrics["validation"]
        storage.set_trial_user_attr(trial_id, VALIDATION, scalars(validation))
        value = validation.get(plan.objective.key)
        if value is None:
            metric = plan.objective.name
            raise Invalid(f"{metric} is undefined on this validation split; use another --metric")
    except Exception as exc:
        storage.set_trial_user_attr(trial_id, ERROR, f"{type(exc).__name__}: {exc}")
        raise
    tune.report({EPOCH: 1, SCORE: float(value), **last, VALUE: float(value)})  # sklearn: no epochs
