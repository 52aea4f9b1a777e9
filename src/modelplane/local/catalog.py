"""Datasets, runs, models and studies in-process."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.platform import OnRows, RunHandle
from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.data.catalog import DatasetSummary, DatasetVersionInfo
    from modelplane.data.ingest import IngestResult
    from modelplane.registry.views import ModelInfo, ModelVersionInfo
    from modelplane.training.run_views import RunInfo
    from modelplane.tuning.views import StudyInfo


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
        categorical: tuple[str, ...] = (),
        numeric: tuple[str, ...] = (),
        boolean: tuple[str, ...] = (),
        datetime: tuple[str, ...] = (),
        ids: tuple[str, ...] = (),
        chunk_rows: int = 65_536,
        image_size: tuple[int, int] | None = None,
        image_mode: str | None = None,
        on_rows: OnRows | None = None,
        since: str | None = None,
    ) -> IngestResult:
        from modelplane.data.ingest import IngestOptions, add_dataset
        from modelplane.data.roles import RoleOverrides
        from modelplane.errors import Invalid
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
            roles=RoleOverrides(
                categorical=tuple(categorical),
                numeric=tuple(numeric),
                boolean=tuple(boolean),
                datetime=tuple(datetime),
                id=tuple(ids),
            ),
        )
        if source.startswith("feedback:"):
            from modelplane.data.from_feedback import add_from_feedback
            from modelplane.monitoring.settings import parse_duration

            span = parse_duration(since, "--since") if since is not None else None
            deployment = source.removeprefix("feedback:")
            return add_from_feedback(
                self._store, name, deployment, since=span, options=options, by=current_user(), on_rows=on_rows
            )
        if since is not None:
            raise Invalid("--since applies to a feedback:DEPLOYMENT source only; remove it")
        return add_dataset(self._store, name, source, options, by=current_user(), on_rows=on_rows)

    def list(self) -> builtins.list[DatasetSummary]:
        from modelplane.data.catalog import list_datasets

        return list_datasets(self._store)

    def get(self, ref: str) -> DatasetVersionInfo:
        from modelplane.data.catalog import get_version

        return get_version(self._store, ref)

    def versions(self, name: str) -> builtins.list[DatasetVersionInfo]:
        from modelplane.data.catalog import list_versions

        return list_versions(self._store, name)

    def delete(self, ref: str) -> builtins.list[str]:
        from modelplane.data.deletion import delete_dataset
        from modelplane.provenance import current_user

        return delete_dataset(self._store, ref, by=current_user())


class Runs:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, *, limit: int = 50, model: str | None = None) -> builtins.list[RunInfo]:
        from modelplane.training.run_catalog import list_runs

        return list_runs(self._store, limit=limit, model=model)

    def get(self, run_id: str) -> RunInfo:
        from modelplane.training.run_catalog import get_run

        return get_run(self._store, run_id)

    def delete(self, run_id: str) -> None:
        from modelplane.provenance import current_user
        from modelplane.training.run_deletion import delete_run

        delete_run(self._store, run_id, by=current_user())

    def start(
        self,
        name: str | None = None,
        *,
        experiment: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> RunHandle:
        from modelplane.provenance import current_user
        from modelplane.training.tracking import LocalRun, start

        by = current_user()
        run_id = start(self._store, name, experiment=experiment, params=params, tags=tags, by=by)
        return LocalRun(self._store, run_id, by)


class Models:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self) -> builtins.list[ModelInfo]:
        from modelplane.registry.registry import list_models

        return list_models(self._store)

    def get(self, name: str) -> ModelInfo:
        from modelplane.registry.registry import get_model

        return get_model(self._store, name)

    def version(self, ref: str) -> ModelVersionInfo:
        from modelplane.registry.registry import get_version

        return get_version(self._store, ref)

    def alias(self, ref: str, alias: str) -> ModelVersionInfo:
        from modelplane.provenance import current_user
        from modelplane.registry.registry import set_alias

        return set_alias(self._store, ref, alias, by=current_user())

    def unalias(self, name: str, alias: str) -> None:
        from modelplane.provenance import current_user
        from modelplane.registry.registry import remove_alias

        remove_alias(self._store, name, alias, by=current_user())

    def delete(self, ref: str, *, force: bool = False) -> None:
        from modelplane.provenance import current_user
        from modelplane.registry.deletion import delete_model, delete_version

        if "@" in ref:
            delete_version(self._store, ref, by=current_user())
        else:
            delete_model(self._store, ref, force=force, by=current_user())

    def retain(self, name: str, *, keep_last: int | None, keep_aliased: bool = False) -> builtins.list[str]:
        from modelplane.provenance import current_user
        from modelplane.registry.retention import set_retention

        return set_retention(
            self._store, name, keep_last=keep_last, keep_aliased=keep_aliased, by=current_user()
        )[1]

    def import_model(
        self,
        name: str,
        source: str | Path,
        *,
        task: str | None = None,
        classes: tuple[str, ...] | None = None,
        reference: str | Path | None = None,
        data: str | None = None,
        evaluate: bool = False,
        trust: tuple[str, ...] = (),
    ) -> ModelVersionInfo:
        """A new version of `name` from a model file or MLflow folder made elsewhere (registry/imports)."""
        from modelplane.provenance import current_user
        from modelplane.registry.imports import ImportOptions, import_model

        options = ImportOptions(
            task=task,
            classes=tuple(classes) if classes is not None else None,
            reference=Path(reference) if reference is not None else None,
            data=data,
            evaluate=evaluate,
            trust=tuple(trust),
        )
        return import_model(self._store, name, Path(source), options, by=current_user())


class Studies:
    """Tuning studies: `list()` a summary of each, `get(name)` with every trial and parameter importances."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self) -> builtins.list[StudyInfo]:
        from modelplane.tuning.catalog import list_studies

        return list_studies(self._store)

    def get(self, name: str) -> StudyInfo:
        from modelplane.tuning.catalog import get_study

        return get_study(self._store, name)

    def delete(self, name: str) -> None:
        from modelplane.provenance import current_user
        from modelplane.tuning.deletion import delete_study

        delete_study(self._store, name, by=current_user())
