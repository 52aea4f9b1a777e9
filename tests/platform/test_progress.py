"""Progress comes back through callbacks, the same in-process and over HTTP: `on_trial` hears the trials used
so far, `on_epoch` each epoch. Over HTTP it is the server job's progress, heard once per new unit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from modelplane.client import Client
from modelplane.errors import ModelplaneError
from modelplane.jobs.views import JobInfo, JobProgress
from modelplane.local import Local
from modelplane.tuning.views import StudyProgress

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _job(kind: str, state: str, done: int) -> dict[str, Any]:
    progress = JobProgress(done=done, total=2, unit="units", rate=None)
    return JobInfo(
        id="j1",
        kind=kind,
        state=state,
        params={"study": "s"},
        progress=progress,
        result=None,
        error="stopped here" if state == "failed" else None,
        attempts=1,
        worker=None,
        cancel_requested=False,
        created_at=NOW,
        started_at=NOW,
        updated_at=NOW,
        finished_at=NOW if state == "failed" else None,
        created_by="test",
    ).to_dict()


@pytest.fixture
def server_job() -> Iterator[tuple[Client, list[tuple[str, int]]]]:
    """A client whose server queues one job, then reports it through these (state, done) polls in turn."""
    polls: list[tuple[str, int]] = []
    kinds = {"/api/v1/studies": "tune", "/api/v1/compressions": "compress"}
    kind = ""

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal kind
        if request.method == "POST":
            kind = kinds[request.url.path]
            return httpx.Response(202, json=_job(kind, "queued", 0))
        state, done = polls.pop(0)
        return httpx.Response(200, json=_job(kind, state, done))

    client = Client("http://control.test")
    client._http.client = httpx.Client(base_url="http://control.test", transport=httpx.MockTransport(answer))
    yield client, polls
    client.close()


def test_a_server_study_reports_each_new_trial_once(server_job: tuple[Client, list[tuple[str, int]]]) -> None:
    client, polls = server_job
    polls += [("queued", 0), ("running", 1), ("running", 1), ("running", 2), ("failed", 2)]
    trials: list[StudyProgress] = []
    with pytest.raises(ModelplaneError, match="stopped here"):
        client.tune(data="iris", model="logreg", trials=2, on_trial=trials.append)
    assert [p.used for p in trials] == [1, 2] and {p.budget for p in trials} == {2}


def test_a_server_compression_reports_each_new_epoch_once(
    server_job: tuple[Client, list[tuple[str, int]]],
) -> None:
    client, polls = server_job
    polls += [("running", 0), ("running", 1), ("running", 2), ("running", 2), ("failed", 2)]
    epochs: list[dict[str, float]] = []
    with pytest.raises(ModelplaneError, match="stopped here"):
        client.compress("m@1", prune=0.5, on_epoch=epochs.append)
    assert epochs == [{"epoch": 1.0}, {"epoch": 2.0}]


def test_an_in_process_study_reports_its_trials(tmp_path: Any) -> None:
    local = Local(tmp_path / "home")
    try:
        local.datasets.add("iris", source="builtin:iris")
        trials: list[StudyProgress] = []
        study = local.tune(data="iris", model="logreg", trials=2, on_trial=trials.append)
    finally:
        local.close()
    used = [p.used for p in trials]
    assert study.trials_done == 2 and used[-1] == 2 and used == sorted(used)
    assert trials[-1].best_value == study.best_value and trials[-1].metric is not None
