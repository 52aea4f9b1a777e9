"""`modelplane deploy --log-sample/--retain/--retain-size` and `modelplane monitor log`, as a user runs
them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from modelplane.cli.output import console
from modelplane.local import Local
from modelplane.monitoring.log_writer import PredictionLog
from modelplane.registry.registry import NewVersion, register
from tests.cli_helpers import run_cli


def registered(tmp_path: Path) -> str:
    weights = tmp_path / "w.weights"
    weights.write_bytes(b"w")
    spec = {"kind": "mlp", "input_shape": [2], "num_outputs": 2}
    local = Local()
    try:
        new = NewVersion(
            "m", "classification", "sklearn", "mlp", spec, weights, {}, {}, classes=["no", "yes"]
        )
        return register(local.store, new).ref
    finally:
        local.close()


def test_deploy_takes_the_log_settings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ref = registered(tmp_path)
    args = ["deploy", ref, "--runtime", "native", "--name", "d"]
    saved = run_cli(
        capsys, *args, "--log-sample", "0.25", "--retain", "12h", "--retain-size", "2GB", "--json"
    )
    assert saved.code == 0, saved.err
    monitoring = saved.json()["spec"]["monitoring"]
    assert monitoring["log_sample"] == 0.25 and monitoring["retain_days"] == 0.5
    assert monitoring["retain_bytes"] == 2_000_000_000
    default = run_cli(capsys, *args, "--json").json()["spec"]["monitoring"]
    assert default["log_sample"] == 1.0 and default["retain_days"] == 30
    bad = run_cli(capsys, *args, "--retain", "a month")
    assert bad.code == 2 and "--retain 'a month' is not a duration" in bad.err
    size = run_cli(capsys, *args, "--retain-size", "lots")
    assert size.code == 2 and "e.g. 10GB" in size.err
    sample = run_cli(capsys, *args, "--log-sample", "2")
    assert sample.code == 2 and "log_sample" in sample.err


def test_deploy_takes_the_monitor_window_and_drift_thresholds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ref = registered(tmp_path)
    args = ["deploy", ref, "--runtime", "native", "--name", "d"]
    flags = ["--monitor-window", "15m", "--monitor-every", "1m", "--drift-threshold", "wasserstein=0.2"]
    saved = run_cli(capsys, *args, *flags, "--drift-threshold", "f12:ks=0.01", "--json")
    assert saved.code == 0, saved.err
    monitoring = saved.json()["spec"]["monitoring"]
    assert monitoring["window_s"] == 900 and monitoring["every_s"] == 60
    assert monitoring["drift"] == {"wasserstein": 0.2}
    assert monitoring["feature_drift"] == {"f12": {"ks": 0.01}}
    typo = run_cli(capsys, *args, "--drift-threshold", "wasserstien=0.2")
    assert typo.code == 2 and "unknown drift test 'wasserstien'" in typo.err and "jensenshannon" in typo.err
    number = run_cli(capsys, *args, "--drift-threshold", "ks=low")
    assert number.code == 2 and "e.g. wasserstein=0.2" in number.err


def test_monitor_log_shows_json_a_table_and_writes_parquet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "width", 200)
    ref = registered(tmp_path)
    assert run_cli(capsys, "deploy", ref, "--runtime", "native", "--name", "d").code == 0
    log = PredictionLog(isolated_home)
    for i in range(3):
        outputs = {
            "label": np.array(["yes"], dtype=object),
            "probabilities": np.array([[0.1, 0.9]], np.float32),
        }
        log.submit(
            "d",
            "1",
            f"req-{i}",
            None,
            1.25,
            200,
            np.array([[i, 2 * i]], np.float32),
            None,
            outputs,
            ["no", "yes"],
        )
    log.submit("d", "1", "broken", None, 3.0, 503, None, None, {}, [])
    log.close()

    shown = run_cli(capsys, "monitor", "log", "d", "--json", "--limit", "2")
    assert shown.code == 0, shown.err
    rows = shown.json()
    assert [r["request_id"] for r in rows] == ["req-2", "broken"]
    assert rows[0]["f:f1"] == 4.0 and rows[0]["label"] == "yes" and rows[0]["status"] == 200
    assert rows[1]["status"] == 503 and rows[1]["label"] is None
    table = run_cli(capsys, "monitor", "log", "d", "--since", "1h").out
    assert "req-0" in table and "yes (0.90)" in table and "f1" in table and "failed (503)" in table
    out = tmp_path / "rows.parquet"
    assert run_cli(capsys, "monitor", "log", "d", "--parquet", str(out)).code == 0
    assert pq.read_table(out).num_rows == 4
    empty = run_cli(capsys, "monitor", "log", "d", "--until", "2020-01-01")
    assert "no logged predictions" in empty.out
    unknown = run_cli(capsys, "monitor", "log", "nope")
    assert unknown.code == 2 and "nope" in unknown.err
    bad = run_cli(capsys, "monitor", "log", "d", "--since", "soon")
    assert bad.code == 2 and "neither a duration nor an ISO time" in bad.err
