"""`modelplane deploy --replicas N | --autoscale MIN:MAX`: saved, listed and shown; bounds that cannot
work are refused in one line before anything is saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.local import Local
from tests.cli.test_deploy_runtime import _register
from tests.cli_helpers import run_cli


def test_replicas_and_autoscaling_are_saved_listed_and_shown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    local = Local()
    try:
        ref = _register(local, tmp_path, "small", "torch")
    finally:
        local.close()
    fixed = run_cli(capsys, "deploy", ref, "--name", "fixed", "--replicas", "3", "--json")
    assert fixed.code == 0 and fixed.json()["spec"]["scaling"] == {"replicas": 3}
    auto = run_cli(
        capsys, "deploy", ref, "--name", "auto", "--autoscale", "0:4", "--target-inflight", "8", "--json"
    )
    assert auto.code == 0
    assert auto.json()["spec"]["scaling"]["autoscale"] == {
        "min_replicas": 0,
        "max_replicas": 4,
        "target_inflight": 8.0,
        "window_s": 2.0,
        "cooldown_s": 30.0,
    }
    assert auto.json()["spec"]["rollout"] == {"check_requests": 100, "max_error_share": 0.1}
    table = run_cli(capsys, "deployments", "list").out
    assert "0..4" in table
    assert "min_replicas" in run_cli(capsys, "deployments", "show", "auto").out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--autoscale", "3:2"], "MIN (3) is above MAX (2)"),
        (["--autoscale", "0:0"], "MAX is 0"),
        (["--autoscale", "two"], "is not MIN:MAX"),
        (["--autoscale", "1:2", "--replicas", "3"], "not both"),
        (["--replicas", "0"], "replicas"),
    ],
)
def test_impossible_bounds_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: list[str], message: str
) -> None:
    local = Local()
    try:
        ref = _register(local, tmp_path, "small", "torch")
    finally:
        local.close()
    refused = run_cli(capsys, "deploy", ref, *flags)
    assert refused.code == 2 and message in refused.err and "Traceback" not in refused.err
    assert run_cli(capsys, "deployments", "list", "--json").json() == []
