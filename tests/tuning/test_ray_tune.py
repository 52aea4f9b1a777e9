"""`modelplane tune` on a Ray head: Ray Tune runs the trials (Optuna's sampler, ASHA), the study tables hold
them as the embedded path writes them, the best trial is one version, and the job row holds Tune's ids."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.cli.context import platform as cli_platform
from modelplane.config import get_settings
from modelplane.local import Local
from tests.cli_helpers import run_cli
from tests.net import free_port

# Random search with seed 7 samples lr 0.05, 0.05, 1e-5, 1e-5, 0.05, 0.05: the two 1e-5 trials start once a
# 0.05 trial has passed epoch 1, where ASHA compares them with it. 1e-5 cannot learn in an epoch; 0.05 does.
SPACE = {"hidden": [16], "lr": [1.0e-5, 0.05], "activation": "tanh"}
ARGS = ["--data", "iris", "--model", "mlp", "--trials", "6", "--epochs", "3", "--parallel", "2"]
ARGS += ["--sampler", "random", "--seed", "7", "--name", "on-ray"]


def test_a_study_on_ray_records_its_trials_prunes_with_asha_and_registers_the_best(
    platform: Local, on_ray: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    result = run_cli(capsys, "tune", *ARGS, "--space", str(tmp_path / "space.yaml"), "--json")
    assert result.code == 0, result.err
    study = result.json()
    assert study["trials_done"] == 6 and study["model_version"] == "iris-mlp@1"

    trials = study["trials"]
    assert [t["params"]["lr"] for t in trials] == [0.05, 0.05, 1.0e-5, 1.0e-5, 0.05, 0.05]
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert [t["number"] for t in pruned] == [2, 3], "ASHA stops the trials that cannot learn at epoch 1"
    for trial in pruned:
        run = platform.runs.get(trial["run_id"])
        assert run.status == "pruned" and "pruned after epoch 1 of 3" in (run.error or "")
        assert "ASHA" in (run.error or "") and run.model_version is None
        assert trial["epochs"] == 1 and trial["value"] is None
    complete = [t for t in trials if t["state"] == "complete"]
    assert len(complete) == 4 and all(t["epochs"] == 3 and t["value"] > 0.5 for t in complete)
    for trial in complete:  # the value is the run's validation metric, as embedded
        assert trial["value"] == trial["validation"]["accuracy"]
        assert platform.runs.get(trial["run_id"]).status == "succeeded"

    best = next(t for t in trials if t["number"] == study["best_trial"])
    assert best["value"] == max(t["value"] for t in complete)
    version = platform.models.version("iris-mlp@1")
    assert version.run_id == best["run_id"] and len(platform.models.get("iris-mlp").versions) == 1
    tuning = version.params["tuning"]
    assert (tuning["study"], tuning["trial"], tuning["value"]) == ("on-ray", best["number"], best["value"])
    assert version.metrics["validation"]["accuracy"] == pytest.approx(best["value"])

    (job,) = platform.jobs.list()
    assert job.kind == "tune" and job.state == "succeeded" and job.progress.done == 6
    cluster = job.cluster
    assert cluster["address"] == on_ray and cluster["experiment"] == f"tune-{job.id}"
    assert len(cluster["trials"]) == 6 and len(set(cluster["trials"])) == 6
    shown = run_cli(capsys, "tune", "show", "on-ray")
    assert shown.code == 0 and "pruned" in shown.out and "iris-mlp@1" in shown.out


@pytest.mark.slow  # two jobs, each starting a Ray driver and Tune's trial actors, and a heartbeat's grace
def test_a_cancelled_search_keeps_its_trials_and_resumes_on_ray_to_its_budget(
    on_ray: str, platform: Local
) -> None:
    """A cancel stops the search on the cluster: the trials it was running are queued again (by the driver,
    or, when the worker ended the driver first, once their heartbeats go stale), and the resumed study runs
    to its budget and registers one version."""
    from modelplane.errors import ModelplaneError
    from modelplane.jobs.queue import cancel_job

    def cancel_once_two_trials_run() -> None:
        """Cancel as soon as Tune started two trials (Ray's trial actors start in seconds, so they run)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = [j for j in platform.jobs.list(state="running") if len(j.cluster.get("trials", [])) >= 2]
            if found:
                cancel_job(platform.store, found[0].id, by="ann")
                return
            time.sleep(0.1)

    spec: dict[str, Any] = {"data": "iris", "model": "mlp", "trials": 4, "parallel": 2, "pruner": "none"}
    assert platform.store.settings.ray_address == on_ray  # `on_ray` came first: this platform tunes on Ray
    canceller = threading.Thread(target=cancel_once_two_trials_run, daemon=True)
    canceller.start()
    with pytest.raises(ModelplaneError, match=r"tune job \w+ cancelled"):
        platform.tune(**spec, train={"epochs": 30}, name="stopped")
    canceller.join()
    stopped = platform.studies.get("stopped")
    assert stopped.trials_done < 4 and stopped.model_version is None

    study = platform.tune(resume="stopped")
    assert study.trials_done == 4 and study.model_version == "iris-mlp@1"
    assert set(study.states) == {"complete", "interrupted"} and study.states["complete"] == 4
    for trial in study.trials:
        expected = "succeeded" if trial.state == "complete" else "interrupted"
        assert trial.run_id is None or platform.runs.get(trial.run_id).status == expected
    assert [j.state for j in platform.jobs.list()] == ["succeeded", "cancelled"]
    assert len(platform.models.get("iris-mlp").versions) == 1


def test_an_unreachable_cluster_fails_tune_in_one_line_and_queues_nothing(
    platform: Local, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("MODELPLANE_RAY_ADDRESS", address)
    get_settings.cache_clear()
    cli_platform.cache_clear()
    result = run_cli(capsys, "tune", *ARGS)
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert f"no Ray cluster answers at {address}" in result.err and "ray start --head" in result.err
    assert platform.studies.list() == [] and platform.jobs.list() == [] and platform.runs.list() == []


def test_the_embedded_path_imports_no_ray() -> None:
    code = (
        "import sys, modelplane.jobs.tune, modelplane.jobs.tune_cluster, modelplane.tuning.ray_tune, "
        "modelplane.tuning.studies, modelplane.local; assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
