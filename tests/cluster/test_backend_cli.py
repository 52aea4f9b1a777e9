"""`--backend ray` and MODELPLANE_RAY_ADDRESS on the command line: a cluster that does not answer ends the
command in one line with exit 2 before anything is queued or started."""

from __future__ import annotations

import pytest

from modelplane.config import get_settings
from modelplane.local import Local
from tests.cli_helpers import run_cli
from tests.net import free_port


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> str:
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("MODELPLANE_RAY_ADDRESS", address)
    monkeypatch.setenv("MODELPLANE_BACKEND", "embedded")  # restored after the test: --backend sets it
    get_settings.cache_clear()
    return address


@pytest.mark.parametrize("command", [["worker", "--until-idle"], ["up", "--port", "0", "--grpc-port", "-1"]])
def test_up_and_worker_refuse_an_unreachable_cluster_in_one_line(
    nowhere: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, *command, "--backend", "ray")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and f"no Ray cluster answers at {nowhere}" in lines[0]
    assert "ray start --head" in lines[0] and "Traceback" not in result.err


def test_train_and_batch_queue_nothing_when_the_cluster_does_not_answer(
    nowhere: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Local().datasets.add("iris", source="builtin:iris")
    result = run_cli(capsys, "train", "--data", "iris", "--model", "mlp", "--epochs", "1")
    assert result.code == 2 and f"no Ray cluster answers at {nowhere}" in result.err
    assert "Traceback" not in result.err
    local = Local()
    assert local.jobs.list() == [] and local.runs.list() == []


def test_an_unknown_backend_is_refused(nowhere: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "worker", "--until-idle", "--backend", "spark")
    assert result.code == 2 and "--backend must be embedded or ray, got 'spark'" in result.err
