"""`modelplane runs list/show` show a run your own code tracked: name, experiment, params, tags, the
metric history by step and the files it logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.cli import output
from modelplane.local import Local
from tests.cli_helpers import run_cli


def test_runs_show_and_list_present_a_tracked_run(
    isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    notes = tmp_path / "notes.txt"
    notes.write_text("n")
    platform = Local(isolated_home)
    try:
        with platform.runs.start("hand-loop", experiment="exp-cli", params={"lr": 0.05}) as run:
            for loss in (0.8, 0.4):
                run.log_metric("loss", loss)
            run.set_tag("team", "ml")
            run.log_artifact(notes)
    finally:
        platform.close()
    shown = run_cli(capsys, "runs", "show", run.id[:10])
    assert shown.code == 0, shown.err
    for text in ("hand-loop", "exp-cli", "param.lr", "0.05", "tag.team", "notes.txt", "steps", "0.4"):
        assert text in shown.out
    listed = run_cli(capsys, "runs", "list", "--json")
    assert [(r["id"], r["kind"], r["name"]) for r in listed.json()] == [(run.id, "tracked", "hand-loop")]
    with pytest.MonkeyPatch.context() as wide:  # a terminal as wide as people use (pytest's is 80 columns)
        wide.setattr(output.console, "width", 160)
        assert "hand-loop" in run_cli(capsys, "runs", "list").out
    missing = run_cli(capsys, "runs", "show", "nope")
    assert missing.code != 0 and "not found" in missing.err and "Traceback" not in missing.err
