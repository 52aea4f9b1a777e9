"""The in-process platform: every verb of the CLI as a method, no server needed.

`modelplane.Local()` uses MODELPLANE_HOME (default ~/.modelplane); the HTTP client mirrors this surface.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
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
        from modelplane.registry.registry import delete_version

        delete_version(self._store, ref)


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
        from modelplane.serving.deployments import delete_deployment

        delete_deployment(self._store, name)


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

    def resume(self, run_id: str, *, progress: bool = False) -> Any:
        from modelplane.training.runs import resume_run

        return resume_run(self.store, run_id, progress=progress)

    def evaluate(self, model_ref: str, data_ref: str, *, split: str = "test", runtime: str = "onnx") -> Any:
        from modelplane.evaluation.versions import evaluate_version

        return evaluate_version(self.store, model_ref, data_ref, split=split, runtime=runtime)

    def export(self, model_ref: str, fmt: str, out_dir: str | Path) -> list[Path]:
        from modelplane.compression.exporting import export_version

        return export_version(self.store, model_ref, fmt, Path(out_dir))

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

    def close(self) -> None:
        self.store.close()
