"""The tracked run's handle over HTTP: the same `TrackedRun` as in-process, sent to /api/v1/runs/{id}/..."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.client.http import Http, parse, quoted
from modelplane.training.run_handle import MetricPoint, TrackedRun

if TYPE_CHECKING:
    from modelplane.registry.views import ModelVersionInfo
    from modelplane.training.run_views import RunInfo


class ClientRun(TrackedRun):
    def __init__(self, http: Http, run_id: str) -> None:
        super().__init__(run_id)
        self._http = http
        self._base = f"/api/v1/runs/{quoted(run_id)}"

    def info(self) -> RunInfo:
        from modelplane.training.run_views import RunInfo

        return parse(RunInfo, self._http.json("GET", self._base))

    def _log(self, metrics: list[MetricPoint], params: dict[str, Any], tags: dict[str, Any]) -> None:
        body = {
            "metrics": [asdict(m) for m in metrics],
            "params": {k: str(v) for k, v in params.items()},
            "tags": {k: str(v) for k, v in tags.items()},
        }
        self._http.call("POST", f"{self._base}/log", json=body)

    def _upload(self, artifact: str, source: Path) -> None:
        with source.open("rb") as fh:
            self._http.call("PUT", f"{self._base}/artifacts", params={"path": artifact}, content=fh)

    def _register(
        self, name: str, artifact: str, task: str | None, classes: list[str] | None
    ) -> ModelVersionInfo:
        from modelplane.registry.views import ModelVersionInfo

        body = {"name": name, "artifact": artifact, "task": task, "classes": classes}
        return parse(ModelVersionInfo, self._http.json("POST", f"{self._base}/register", json=body))

    def _end(self, status: str, error: str | None) -> RunInfo:
        from modelplane.training.run_views import RunInfo

        body = {"status": status, "error": error}
        return parse(RunInfo, self._http.json("POST", f"{self._base}/end", json=body))
