"""The in-process platform: every verb of the CLI as a method, no server needed.

`modelplane.Local()` uses MODELPLANE_HOME (default ~/.modelplane); the HTTP client mirrors this surface.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from modelplane.config import Settings, get_settings
from modelplane.store import Store


class Datasets:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(
        self,
        name: str,
        *,
        source: str,
        target: str | None = None,
        task: str | None = None,
        append: bool = False,
        drop_na: bool = False,
        drop_columns: tuple[str, ...] = (),
        chunk_rows: int = 65_536,
        image_size: tuple[int, int] | None = None,
        image_mode: str | None = None,
        on_rows: Callable[[int], None] | None = None,
    ) -> Any:
        from modelplane.data.ingest import IngestOptions, add_dataset
        from modelplane.provenance import current_user

        options = IngestOptions(
            target=target,
            task=task,
            append=append,
            drop_na=drop_na,
            drop_columns=tuple(drop_columns),
            chunk_rows=chunk_rows,
            image_size=image_size,
            image_mode=image_mode,
        )
        return add_dataset(self._store, name, source, options, by=current_user(), on_rows=on_rows)

    def list(self) -> list[Any]:
        from modelplane.data.catalog import list_datasets

        return list_datasets(self._store)

    def get(self, ref: str) -> Any:
        from modelplane.data.catalog import get_version

        return get_version(self._store, ref)

    def versions(self, name: str) -> builtins.list[Any]:
        from modelplane.data.catalog import list_versions

        return list_versions(self._store, name)


class Runs:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, *, limit: int = 50, model: str | None = None) -> list[Any]:
        from modelplane.training.runs import list_runs

        return list_runs(self._store, limit=limit, model=model)

    def get(self, run_id: str) -> Any:
        from modelplane.training.runs import get_run

        return get_run(self._store, run_id)


class Models:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self) -> list[Any]:
        from modelplane.registry.registry import list_models

        return list_models(self._store)

    def get(self, name: str) -> Any:
        from modelplane.registry.registry import get_model

        return get_model(self._store, name)

    def version(self, ref: str) -> Any:
        from modelplane.registry.registry import get_version

        return get_version(self._store, ref)

    def alias(self, ref: str, alias: str) -> Any:
        from modelplane.provenance import current_user
        from modelplane.registry.registry import set_alias

        return set_alias(self._store, ref, alias, by=current_user())

    def unalias(self, name: str, alias: str) -> None:
        from modelplane.provenance import current_user
        from modelplane.registry.registry import remove_alias

        remove_alias(self._store, name, alias, by=current_user())

    def delete(self, ref: str) -> None:
        from modelplane.provenance import current_user
        from modelplane.registry.registry import delete_version

        delete_version(self._store, ref, by=current_user())


class Studies:
    """Tuning studies: `list()` a summary of each, `get(name)` with every trial and parameter importances."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self) -> list[Any]:
        from modelplane.tuning.studies import list_studies

        return list_studies(self._store)

    def get(self, name: str) -> Any:
        from modelplane.tuning.studies import get_study

        return get_study(self._store, name)


class Deployments:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self) -> list[Any]:
        from modelplane.serving.deployments import list_deployments

        return list_deployments(self._store)

    def get(self, name: str) -> Any:
        from modelplane.serving.deployments import get_deployment

        return get_deployment(self._store, name)

    def undeploy(self, name: str) -> None:
        from modelplane.provenance import current_user
        from modelplane.serving.deployments import delete_deployment

        delete_deployment(self._store, name, by=current_user())


class Keys:
    """API keys; in-process you act as the admin (you already hold the database)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def _actor() -> Any:
        from modelplane.provenance import current_user
        from modelplane.security.principal import Principal

        return Principal.local(current_user())

    def create(
        self,
        *,
        role: str,
        name: str,
        deployments: tuple[str, ...] | builtins.list[str] = (),
        rate: str | None = None,
        quota: str | None = None,
    ) -> Any:
        """A new key; the result's `.key` is the only time the raw key is shown."""
        from modelplane.security.keys import create_key

        return create_key(
            self._store,
            self._actor(),
            role=role,
            name=name,
            deployments=deployments,
            rate=rate,
            quota=quota,
        )

    def list(self, *, include_revoked: bool = True) -> builtins.list[Any]:
        from modelplane.security.keys import list_keys

        return list_keys(self._store, self._actor(), include_revoked=include_revoked)

    def revoke(self, key_id: str) -> Any:
        from modelplane.security.keys import revoke_key

        return revoke_key(self._store, self._actor(), key_id)


class UsageReports:
    def __init__(self, store: Store) -> None:
        self._store = store

    def report(
        self, since: date | str, until: date | str | None = None, *, key: str | None = None
    ) -> list[Any]:
        """Usage per key, deployment and UTC day, `since` and `until` inclusive (dates or YYYY-MM-DD)."""
        from modelplane.security.metering import parse_day, usage_report

        return usage_report(
            self._store, parse_day(since, "--since"), parse_day(until, "--until") if until else None, key=key
        )


class AuditLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    def log(self, *, limit: int = 50) -> list[Any]:
        """The newest entries, newest first."""
        from modelplane.security.audit import log

        return log(self._store, limit=limit)

    def verify(self) -> Any:
        """Recompute the hash chain; `.ok`, or `.first_bad` and `.message` naming what was tampered with."""
        from modelplane.security.audit import verify

        return verify(self._store)

    def head(self) -> Any:
        from modelplane.security.audit import head

        return head(self._store)


class Jobs:
    """Background jobs (training, batch prediction) of this store; `modelplane up` or `modelplane worker`
    runs them. Ids may be shortened to a unique prefix."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, *, limit: int = 50, state: str | None = None, kind: str | None = None) -> list[Any]:
        """Newest first."""
        from modelplane.jobs.queue import list_jobs

        return list_jobs(self._store, limit=limit, state=state, kind=kind)

    def get(self, job_id: str) -> Any:
        from modelplane.jobs.queue import get_job

        return get_job(self._store, job_id)

    def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> builtins.list[Any]:
        """Log lines numbered after `after` (`.seq`, `.at`, `.line`)."""
        from modelplane.jobs.queue import read_log

        return read_log(self._store, job_id, after=after, limit=limit)[1]

    def follow(self, job_id: str, *, poll_s: float = 0.5) -> Iterator[Any]:
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

    def cancel(self, job_id: str) -> Any:
        """A queued job ends at once; a running one stops within a couple of seconds."""
        from modelplane.jobs.queue import cancel_job
        from modelplane.provenance import current_user

        return cancel_job(self._store, job_id, by=current_user())

    def wait(self, job_id: str, *, on_update: Callable[[Any], None] | None = None) -> Any:
        """Poll until the job ends; `on_update` sees every poll."""
        from modelplane.jobs.follow import wait_for
        from modelplane.jobs.queue import get_job

        return wait_for(lambda: get_job(self._store, job_id), on_update=on_update)

    def train(self, config: Mapping[str, Any] | None = None, **fields: Any) -> Any:
        """Queue a training run (checked now, so a bad config fails here); returns the job."""
        from modelplane.jobs.train import submit_train
        from modelplane.provenance import current_user
        from modelplane.training.runs import parse_run_config

        run_config = parse_run_config({**(config or {}), **fields})
        return submit_train(self._store, run_config, by=current_user())

    def resume(self, run_id: str) -> Any:
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
        replay: float = 0.2,
        epochs: int = 3,
        lr: float | None = None,
        enabled: bool = True,
    ) -> Any:
        """Create or replace `model`'s policy: `set("digits-cnn", data="digits", gate="accuracy>=production",
        canary="10:15m")`; `on` is new-data, manual or schedule:CRON. Everything is checked now."""
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
            by=current_user(),
        )

    def list(self) -> list[Any]:
        """Every policy with its latest firing."""
        from modelplane.retrain.policies import list_policies

        return list_policies(self._store)

    def get(self, model: str) -> Any:
        """The policy with its recent firings, newest first (`.history`)."""
        from modelplane.retrain.policies import get_policy

        return get_policy(self._store, model)

    def delete(self, model: str) -> None:
        from modelplane.provenance import current_user
        from modelplane.retrain.policies import delete_policy

        delete_policy(self._store, model, by=current_user())


class Local:
    """One platform on local files and a database: `Local(home="/tmp/mp")` or from MODELPLANE_* settings."""

    def __init__(self, home: str | Path | None = None, *, database_url: str | None = None) -> None:
        overrides: dict[str, Any] = {}
        if home is not None:
            overrides["home"] = Path(home)
        if database_url is not None:
            overrides["database_url"] = database_url
        settings = Settings().model_copy(update=overrides) if overrides else get_settings()
        self.store = Store.from_settings(settings)
        self.datasets = Datasets(self.store)
        self.runs = Runs(self.store)
        self.models = Models(self.store)
        self.deployments = Deployments(self.store)
        self.studies = Studies(self.store)
        self.keys = Keys(self.store)
        self.usage = UsageReports(self.store)
        self.audit = AuditLog(self.store)
        self.jobs = Jobs(self.store)
        self.retrain_policies = RetrainPolicies(self.store)

    def train(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        progress: bool = False,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        **fields: Any,
    ) -> Any:
        """Train and register: `train(data="digits", model="mlp", train={"epochs": 5})` or a config dict."""
        from modelplane.provenance import current_user
        from modelplane.training.runs import parse_run_config, start_run

        run_config = parse_run_config({**(config or {}), **fields})
        return start_run(self.store, run_config, progress=progress, by=current_user(), on_epoch=on_epoch)

    def tune(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        resume: str | None = None,
        progress: bool = False,
        **fields: Any,
    ) -> Any:
        """Search, then register the best trial: `tune(data="digits", model="mlp", trials=20)`.

        `tune(resume="digits-mlp-1")` continues a study with its stored settings; `parallel=` and `timeout=`
        may be given for that session. With `parallel=N` (> 1) trials run in spawned worker processes, so a
        script calling this needs the usual `if __name__ == "__main__":` guard.
        """
        from modelplane.errors import Invalid
        from modelplane.provenance import current_user
        from modelplane.tuning.config import parse_tune_config
        from modelplane.tuning.studies import resume as resume_study
        from modelplane.tuning.studies import tune

        if resume is None:
            tune_config = parse_tune_config({**(config or {}), **fields})
            return tune(self.store, tune_config, by=current_user(), progress=progress)
        fixed = sorted({*(config or {}), *fields} - {"parallel", "timeout"})
        if fixed:
            raise Invalid(
                f"--resume continues study {resume} with its stored settings; drop {', '.join(fixed)} "
                "(only parallel and timeout may change)"
            )
        session = {"parallel": fields.get("parallel"), "timeout": fields.get("timeout")}
        return resume_study(self.store, resume, progress=progress, **session)

    def retrain(self, model: str) -> Any:
        """Fire `model`'s retrain policy now; returns the firing (`.job_id` is its queued job, which a worker
        runs: `modelplane up`, `modelplane worker`, or `jobs.wait` after starting one)."""
        from modelplane.provenance import current_user
        from modelplane.retrain.firings import trigger_now

        return trigger_now(self.store, model, by=current_user())

    def resume(self, run_id: str, *, progress: bool = False) -> Any:
        from modelplane.training.runs import resume_run

        return resume_run(self.store, run_id, progress=progress)

    def evaluate(self, model_ref: str, data_ref: str, *, split: str = "test", runtime: str = "onnx") -> Any:
        from modelplane.evaluation.versions import evaluate_version

        return evaluate_version(self.store, model_ref, data_ref, split=split, runtime=runtime)

    def export(self, model_ref: str, fmt: str, out_dir: str | Path) -> list[Path]:
        from modelplane.compression.exporting import export_version

        return export_version(self.store, model_ref, fmt, Path(out_dir))

    def compress(
        self,
        ref: str,
        request: Mapping[str, Any] | None = None,
        *,
        progress: bool = False,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        **fields: Any,
    ) -> Any:
        """A smaller version of `ref` under the same name: `compress("digits-mlp@1", quantize="int8")`,
        `prune=0.6, structured=True` or `distill="mlp:64,32", epochs=10`. Returns the new version and
        its comparison with `ref` (`.version`, `.report`, `.to_dict()`)."""
        from modelplane.compression.compress import compress_version
        from modelplane.compression.request import parse_request
        from modelplane.provenance import current_user

        parsed = parse_request({**(request or {}), **fields})
        return compress_version(
            self.store, ref, parsed, progress=progress, by=current_user(), on_epoch=on_epoch
        )

    def compare(self, refs: builtins.list[str] | tuple[str, ...]) -> Any:
        """Size, parameters, latency (batch 1 and 64) and test metrics of `refs`, relative to the first."""
        from modelplane.compression.compare import compare_versions

        return compare_versions(self.store, list(refs))

    def deploy(self, spec: Mapping[str, Any], *, name: str | None = None) -> Any:
        """Save a deployment (`{"model": "digits-cnn@production", "canary": {...}, "batching": {...}}`);
        running servers pick it up within their poll interval."""
        from modelplane.provenance import current_user
        from modelplane.serving.deployments import parse_spec, save_deployment

        return save_deployment(self.store, parse_spec(dict(spec)), name=name, by=current_user())

    def predict(self, deployment: str, rows: Any) -> dict[str, Any]:
        """Predict in-process through a deployment (the server's runtimes); `rows`: an array or a file."""
        import numpy as np

        from modelplane.serving.offline import predict_offline, read_rows

        if isinstance(rows, (str, Path)):
            return predict_offline(self.store, deployment, read_rows(str(rows)))
        features = np.asarray(rows, dtype=np.float32)
        return predict_offline(self.store, deployment, features)

    def batch(
        self,
        deployment: str,
        input: str | Path,
        output: str | Path,
        *,
        id_column: str | None = None,
        chunk_rows: int = 50_000,
        batch_size: int = 4096,
        overwrite: bool = False,
        background: bool = False,
        on_update: Callable[[Any], None] | None = None,
    ) -> Any:
        """Predict every row of a CSV/Parquet/NPZ file through a deployment into a Parquet or CSV file, as a
        job: checked now, then run here (or, with `background`, queued for a worker). Returns the job."""
        from modelplane.jobs.batch.kind import parse_batch_request, submit_batch
        from modelplane.jobs.follow import succeeded
        from modelplane.jobs.foreground import run_here
        from modelplane.provenance import current_user

        request = parse_batch_request(
            {
                "deployment": deployment,
                "input": str(input),
                "output": str(output),
                "id_column": id_column,
                "chunk_rows": chunk_rows,
                "batch_size": batch_size,
                "overwrite": overwrite,
            }
        )
        job = submit_batch(self.store, request, by=current_user())
        if background:
            return job
        return succeeded(run_here(self.store, job.id, by=current_user(), on_update=on_update))

    def close(self) -> None:
        self.store.close()
