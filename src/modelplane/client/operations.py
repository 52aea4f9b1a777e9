"""Deployments, jobs and retrain policies on a server."""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from modelplane import errors
from modelplane.client.http import Area, error_from, parse, quoted
from modelplane.platform import OnJobUpdate
from modelplane.retrain.settings import DEFAULT_EPOCHS, DEFAULT_REPLAY

if TYPE_CHECKING:
    from modelplane.jobs.views import JobInfo, LogLine
    from modelplane.retrain.views import RetrainPolicyInfo
    from modelplane.serving.deployments import DeploymentInfo


class Deployments(Area):
    def list(self) -> builtins.list[DeploymentInfo]:
        from modelplane.serving.deployments import DeploymentInfo

        return [parse(DeploymentInfo, item) for item in self._http.items("/api/v1/deployments")]

    def get(self, name: str) -> DeploymentInfo:
        from modelplane.serving.deployments import DeploymentInfo

        return parse(DeploymentInfo, self._http.json("GET", f"/api/v1/deployments/{quoted(name)}"))

    def undeploy(self, name: str) -> None:
        self._http.call("DELETE", f"/api/v1/deployments/{quoted(name)}")


class Jobs(Area):
    """Background jobs on the server (training, batch prediction); ids may be a unique prefix."""

    def list(
        self, *, limit: int = 50, state: str | None = None, kind: str | None = None
    ) -> builtins.list[JobInfo]:
        from modelplane.jobs.views import JobInfo

        params: dict[str, Any] = {"limit": limit, **({"state": state} if state else {})}
        params.update({"kind": kind} if kind else {})
        return [
            parse(JobInfo, item) for item in self._http.json("GET", "/api/v1/jobs", params=params)["items"]
        ]

    def get(self, job_id: str) -> JobInfo:
        from modelplane.jobs.views import JobInfo

        return parse(JobInfo, self._http.json("GET", f"/api/v1/jobs/{quoted(job_id)}"))

    def _log(self, job_id: str, after: int, limit: int) -> tuple[JobInfo, builtins.list[LogLine]]:
        from modelplane.jobs.views import JobInfo, LogLine

        found = self._http.json(
            "GET", f"/api/v1/jobs/{quoted(job_id)}/logs", params={"after": after, "limit": limit}
        )
        return parse(JobInfo, found["job"]), [parse(LogLine, line) for line in found["lines"]]

    def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> builtins.list[LogLine]:
        """Log lines numbered after `after`."""
        return self._log(job_id, after, limit)[1]

    def follow(self, job_id: str, *, poll_s: float = 0.5) -> Iterator[LogLine]:
        """Log lines as they are written, until the job ends."""
        after = 0
        while True:
            job, lines = self._log(job_id, after, 1000)
            yield from lines
            after = lines[-1].seq if lines else after
            if job.finished and not lines:
                return
            if not lines:
                time.sleep(poll_s)

    def cancel(self, job_id: str) -> JobInfo:
        from modelplane.jobs.views import JobInfo

        return parse(JobInfo, self._http.json("POST", f"/api/v1/jobs/{quoted(job_id)}/cancel"))

    def wait(self, job_id: str, *, on_update: OnJobUpdate | None = None) -> JobInfo:
        from modelplane.jobs.follow import wait_for

        return wait_for(lambda: self.get(job_id), on_update=on_update)

    def train(self, config: Mapping[str, Any] | None = None, **fields: Any) -> JobInfo:
        """Queue a training run on the server (checked now); returns the job."""
        found = self._http.json("POST", "/api/v1/runs", json={**(config or {}), **fields})
        return self.get(found["job_id"])

    def resume(self, run_id: str) -> JobInfo:
        return self.get(self._http.json("POST", f"/api/v1/runs/{quoted(run_id)}/resume")["job_id"])

    def download(self, job_id: str, path: str | Path, *, overwrite: bool = False) -> Path:
        """Fetch a finished batch job's output into `path` (through a temp file and a rename)."""
        from modelplane.jobs.batch.paths import check_output, temp_output

        target = Path(path).expanduser().resolve()
        check_output(target, overwrite=overwrite)
        temp = temp_output(target, job_id)
        try:
            with self._http.client.stream("GET", f"/api/v1/jobs/{quoted(job_id)}/output") as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from(response)
                with temp.open("wb") as out:
                    for block in response.iter_bytes(1 << 20):
                        out.write(block)
            os.replace(temp, target)
        except httpx.TransportError as exc:
            raise errors.Unavailable(f"cannot reach modelplane at {self._http.url} ({exc})") from None
        finally:
            temp.unlink(missing_ok=True)
        return target


class RetrainPolicies(Area):
    """Continuous training on the server: one policy per model; the server's watcher fires them."""

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
        from modelplane.retrain.views import RetrainPolicyInfo

        body = {
            "data": data,
            "on": on,
            "gate": gate,
            "canary": canary,
            "replay": replay,
            "epochs": epochs,
            "lr": lr,
            "enabled": enabled,
            "when": when,
        }
        found = self._http.json("PUT", f"/api/v1/retrain-policies/{quoted(model)}", json=body)
        return parse(RetrainPolicyInfo, found)

    def list(self) -> builtins.list[RetrainPolicyInfo]:
        from modelplane.retrain.views import RetrainPolicyInfo

        return [parse(RetrainPolicyInfo, item) for item in self._http.items("/api/v1/retrain-policies")]

    def get(self, model: str) -> RetrainPolicyInfo:
        from modelplane.retrain.views import RetrainPolicyInfo

        return parse(RetrainPolicyInfo, self._http.json("GET", f"/api/v1/retrain-policies/{quoted(model)}"))

    def delete(self, model: str) -> None:
        self._http.call("DELETE", f"/api/v1/retrain-policies/{quoted(model)}")
