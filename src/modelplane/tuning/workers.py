"""Running a study's trials: one loop, run in this process or in `--parallel N` worker processes.

Parallel trials run in processes, not threads. Torch training in threads would share one global RNG (dropout
masks and initial weights would depend on thread timing, so no trial could be reproduced or resumed
bit-for-bit), one process-wide intra-op thread setting and the GIL (small models are Python-bound). Each
worker gets cores // N threads for torch and for scikit-learn's BLAS, OpenMP and joblib pools, so N workers
share the cores instead of oversubscribing them. Workers are spawned, not forked: forking a process whose
torch or OpenMP thread pools have started can deadlock the child.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from modelplane.config import Settings
from modelplane.cores import usable_cores
from modelplane.errors import Invalid, ModelplaneError
from modelplane.store import Store
from modelplane.tuning.objective import TrialRunner, TrialStopped
from modelplane.tuning.plan import StudyPlan
from modelplane.tuning.storage import open_storage, storage_url

_POLL_S = 0.5


@dataclass
class Budget:
    """The trials this session may still start, shared by all workers, with its deadline and stop flag."""

    limit: int | None
    deadline: float | None  # time.time(), comparable across processes
    claimed: Any  # multiprocessing Value('i')
    lock: Any  # multiprocessing Lock
    stop: Any  # multiprocessing Event

    @classmethod
    def create(cls, ctx: Any, limit: int | None, timeout: float | None) -> Budget:
        deadline = time.time() + timeout if timeout is not None else None
        return cls(limit, deadline, ctx.Value("i", 0), ctx.Lock(), ctx.Event())

    def claim(self) -> bool:
        """Take one trial slot; False once the trials or the time are spent or a stop was asked."""
        with self.lock:
            if self.stop.is_set() or (self.deadline is not None and time.time() >= self.deadline):
                return False
            if self.limit is not None and self.claimed.value >= self.limit:
                return False
            self.claimed.value += 1
            return True


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna logs every trial; the progress bar and `modelplane tune show` say it better."""
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def run_trials(
    store: Store,
    plan: StudyPlan,
    budget: Budget,
    *,
    worker: int = 0,
    on_trial: Callable[[], None] | None = None,
) -> None:
    """Run trials until the budget says stop. A trial that samples a configuration the model refuses
    (Invalid) fails alone and the study goes on; any other error stops the study."""
    study = optuna.load_study(
        study_name=plan.name,
        storage=open_storage(storage_url(store)),
        sampler=plan.sampler(worker),
        pruner=plan.pruner(),
    )
    objective = TrialRunner(store, plan, budget.stop)
    while budget.claim():
        study.optimize(objective, n_trials=1, catch=(Invalid,))
        if on_trial is not None:
            on_trial()


def _work(
    urls: tuple[str, str, str, dict[str, str | None]],
    plan: StudyPlan,
    budget: Budget,
    worker: int,
    threads: int,
    errors: Any,
) -> None:
    """Worker process entry. Ctrl-C reaches the parent, which sets budget.stop; the running trial then ends
    at its next epoch and is queued again."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["LOKY_MAX_CPU_COUNT"] = str(threads)  # joblib (random forests) reads it per call
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    database_url, artifact_root, runs_dir, settings = urls
    store = Store(
        database_url, Path(artifact_root), Path(runs_dir), settings=Settings.model_validate(settings)
    )
    try:
        with threadpool_limits(limits=threads), quiet_optuna():
            run_trials(store, plan, budget, worker=worker)
    except TrialStopped:
        pass
    except BaseException as exc:
        budget.stop.set()
        if not isinstance(exc, ModelplaneError):
            traceback.print_exc()
        errors.put(_portable(exc))
    finally:
        store.close()


def _portable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"a tuning worker failed: {type(exc).__name__}: {exc}")
    return exc


def run_parallel(
    store: Store,
    plan: StudyPlan,
    budget_args: tuple[int | None, float | None],
    *,
    workers: int,
    on_poll: Callable[[], None],
) -> None:
    """Run `workers` processes until the budget is spent; Ctrl-C stops them after their current epoch."""
    ctx = mp.get_context("spawn")
    budget = Budget.create(ctx, *budget_args)
    errors = ctx.SimpleQueue()
    threads = max(1, usable_cores() // workers)
    urls = (storage_url(store), str(store.artifacts.root), str(store.runs_dir), store.settings_handover())
    processes = [
        ctx.Process(target=_work, args=(urls, plan, budget, i, threads, errors), name=f"tune-worker-{i}")
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        _wait(processes, on_poll)
    except KeyboardInterrupt:
        budget.stop.set()
        try:
            _wait(processes, on_poll)
        except KeyboardInterrupt:  # a second Ctrl-C: stop now; the trials are recovered on --resume
            _terminate(processes)
        raise
    except BaseException:  # the job running this study was cancelled: stop its trials now (resume recovers)
        budget.stop.set()
        _terminate(processes)
        raise
    if not errors.empty():
        raise errors.get()
    crashed = [p.name for p in processes if p.exitcode not in (0, None)]
    if crashed:
        raise RuntimeError(
            f"tuning worker(s) {', '.join(crashed)} died; resume the study to retry its trials"
        )


def _wait(processes: list[Any], on_poll: Callable[[], None]) -> None:
    while any(p.is_alive() for p in processes):
        for process in processes:
            process.join(_POLL_S / len(processes))
        on_poll()


def _terminate(processes: list[Any]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()
