"""Deployments, jobs and retrain policies in-process."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.platform import OnJobUpdate
from modelplane.retrain.settings import DEFAULT_EPOCHS, DEFAULT_REPLAY
from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.jobs.views import JobInfo, LogLine
    from modelplane.retrain.views import RetrainPolicyInfo
    from modelplane.serving.deployments import DeploymentInfo


class Deployments:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self) -> builtins.list[DeploymentInfo]:
        from modelplane.serving.deployments import list_deployments

        return list_deployments(self._store)

    def get(self, name: str) -> DeploymentInfo:
        from modelplane.serving.deployments import get_deployment

        return get_deployment(self._store, name)

    def undeploy(self, name: str) -> None:
        from modelplane.provenance import current_user
        from modelplane.serving.deployments import delete_deployment

        delete_deployment(self._store, name, by=current_user())


class Jobs:
    """Background jobs (training, batch prediction) of this store; `modelplane up` or `modelplane worker`
    runs them. Ids may be shortened to a unique prefix."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(
        self, *, limit: int = 50, state: str | None = None, kind: str | None = None
    ) -> builtins.list[JobInfo]:
        """Newest first."""
        from modelplane.jobs.queue import list_jobs

        return list_jobs(self._store, limit=limit, state=state, kind=kind)

    def get(self, job_id: str) -> JobInfo:
        from modelplane.jobs.queue import get_job

        return get_job(self._store, job_id)

    def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> builtins.list[LogLine]:
        """Log lines numbered after `after`."""
        from modelplane.jobs.queue import read_log

        return read_log(self._store, job_id, after=after, limit=limit)[1]

    def follow(self, job_id: str, *, poll_s: float = 0.5) -> Iterator[LogLine]:
        """Log lines as they are written, until the job ends."""
        from modelplane.jobs.queue import read_log

        after = 0
        while True:
            job, lines = read_log(self._store, job_id, after=after)
            yield from lines
            after = lines[-1].seq if lines else after
            if job.finished and not lines:
                return
            if not lines:
                time.sleep(poll_s)

    def cancel(self, job_id: str) -> JobInfo:
        """A queued job ends at once; a running one stops within a couple of seconds."""
        from modelplane.jobs.queue import cancel_job
        from modelplane.provenance import current_user

        return cancel_job(self._store, job_id, by=current_user())

    def wait(self, job_id: str, *, on_update: OnJobUpdate | None = None) -> JobInfo:
        """Poll until the job ends; `on_update` sees every poll."""
        from modelplane.jobs.follow import wait_for
        from modelplane.jobs.queue import get_job

        return wait_for(lambda: get_job(self._store, job_id), on_update=on_update)

    def train(self, config: Mapping[str, Any] | None = None, **fields: Any) -> JobInfo:
        """Queue a training run (checked now, so a bad config fails here); returns the job."""
        from modelplane.jobs.train import submit_train
        from modelplane.provenance import current_user
        from modelplane.training.runs import parse_run_config

        run_config = parse_run_config({**(config or {}), **fields})
        return submit_train(self._store, run_config, by=current_user())

    def resume(self, run_id: str) -> JobInfo:
        """Queue a job that continues a failed or interrupted run from its last checkpoint."""
        from modelplane.jobs.train import submit_resume
        from modelplane.provenance import current_user

        return submit_resume(self._store, run_id, by=current_user())

    def download(self, job_id: str, path: str | Path, *, overwrite: bool = False) -> Path:
        """Copy a finished batch job's output to `path`."""
        from modelplane.jobs.batch.download import copy_output

        return copy_output(self._store, job_id, Path(path), overwrite=overwrite)


class RetrainPolicies:
    """Continuous training: one policy per model (which dataset it watches, what fires it, the gate, the
    canary). `modelplane up` or `modelplane worker` watches the store and runs what the policies fire."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def set(
        self,
        model: str,
        *,
        data: str,
        on: str = "new-data",
        gate: str | None = None,
        canary: str | None = None,
        replay: float = DEFAULT_REPLAY,
        epochs: int = DEFAULT_EPOCHS,
        lr: float | None = None,
        enabled: bool = True,
        when: str | None = None,
    ) -> RetrainPolicyInfo:
        """Create or replace `model`'s policy: `set("digits-cnn", data="digits", gate="accuracy>=production",
        canary="10:15m")`; `on` is new-data, manual, schedule:CRON, drift or accuracy-drop. Everything is
        checked now."""
        from modelplane.provenance import current_user
        from modelplane.retrain.policies import set_policy

        return set_policy(
            self._store,
            model,
            data=data,
            on=on,
            gate=gate,
            canary=canary,
            replay=replay,
            epochs=epochs,
            lr=lr,
            enabled=enabled,
            when=when,
            by=current_user(),
        )

    def list(self) -> builtins.list[RetrainPolicyInfo]:
        """Every policy with its latest firing."""
        from modelplane.retrain.policies import list_policies

        return list_policies(self._store)

    def get(self, model: str) -> RetrainPolicyInfo:
        """The policy with its recent firings, newest first (`.history`)."""
        from modelplane.retrain.policies import get_policy

        return get_policy(self._store, model)

    def delete(self, model: str) -> None:
        from modelplane.provenance import current_user
        from modelplane.retrain.policies import delete_policy

        delete_policy(self._store, model, by=current_user())
