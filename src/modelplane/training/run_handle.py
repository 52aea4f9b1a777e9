"""What a tracked run's handle does the same way in-process and over HTTP: step counters, the `with`
block's ending, which files a folder uploads. `LocalRun` (training/tracking.py) sends through the store,
`ClientRun` (client/tracking.py) through the REST routes. Light on purpose: the client imports it."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.errors import NotFound

if TYPE_CHECKING:
    from modelplane.registry.views import ModelVersionInfo
    from modelplane.training.run_views import RunInfo


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    step: int = 0
    timestamp_ms: int | None = None


def now_ms() -> int:
    return int(time.time() * 1000)


def upload_name(path: Path, artifact_path: str | None) -> str:
    """Where `log_artifact(path, artifact_path)` puts a file, as MLflow does: the folder, then the name."""
    name = os.path.basename(path)
    return f"{artifact_path.strip('/')}/{name}" if artifact_path else name


class TrackedRun(ABC):
    """The RunHandle (platform.py) over a transport; subclasses send logs, files, the end, registrations."""

    def __init__(self, run_id: str) -> None:
        self._id = run_id
        self._next_step: dict[str, int] = {}
        self._ended = False  # by `end()` inside the block: leaving the block keeps that status

    @property
    def id(self) -> str:
        return self._id

    def log_metric(self, key: str, value: float, *, step: int | None = None) -> None:
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        points = []
        for key, value in metrics.items():
            at = self._next_step.get(key, 0) if step is None else int(step)
            self._next_step[key] = at + 1
            points.append(MetricPoint(key, value, at, now_ms()))
        self._log(points, {}, {})

    def log_param(self, key: str, value: Any) -> None:
        self._log([], {key: value}, {})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._log([], dict(params), {})

    def set_tag(self, key: str, value: Any) -> None:
        self._log([], {}, {key: value})

    def log_artifact(self, path: str | Path, *, artifact_path: str | None = None) -> str:
        source = Path(path)
        if source.is_dir():
            base = upload_name(source, artifact_path)
            for item in sorted(p for p in source.rglob("*") if p.is_file()):
                self._upload(f"{base}/{item.relative_to(source).as_posix()}", item)
            return base
        if not source.is_file():
            raise NotFound(f"{source} does not exist; log a file or a folder that exists")
        name = upload_name(source, artifact_path)
        self._upload(name, source)
        return name

    def register_model(
        self,
        name: str,
        model: str | Path,
        *,
        task: str | None = None,
        classes: Sequence[str] | None = None,
    ) -> ModelVersionInfo:
        local = Path(model)
        artifact = self.log_artifact(local, artifact_path="model") if local.exists() else str(model)
        return self._register(name, artifact, task, list(classes) if classes is not None else None)

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._ended:
            return
        if exc_type is None:
            self._end("succeeded", None)
        else:
            stopped = issubclass(exc_type, KeyboardInterrupt)
            self._end("interrupted" if stopped else "failed", repr(exc)[:2000])

    def end(self, status: str = "succeeded") -> RunInfo:
        info = self._end(status, None)
        self._ended = status != "running"
        return info

    @abstractmethod
    def info(self) -> RunInfo: ...

    @abstractmethod
    def _log(self, metrics: list[MetricPoint], params: dict[str, Any], tags: dict[str, Any]) -> None: ...

    @abstractmethod
    def _upload(self, artifact: str, source: Path) -> None: ...

    @abstractmethod
    def _register(
        self, name: str, artifact: str, task: str | None, classes: list[str] | None
    ) -> ModelVersionInfo: ...

    @abstractmethod
    def _end(self, status: str, error: str | None) -> RunInfo: ...
