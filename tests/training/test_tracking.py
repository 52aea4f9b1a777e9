"""Your own training code, tracked: `with platform.runs.start(...) as run` logs params, per-step metrics,
tags and files into a run that `runs list`/`runs show` show like modelplane's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.local import Local
from modelplane.store import Store
from modelplane.store.orm import Run
from modelplane.training import tracking
from modelplane.training.tracking_artifacts import read_file
from tests.training.tracking_helpers import skops_classifier


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    platform = Local(tmp_path / "home")
    yield platform
    platform.close()


def test_a_with_block_records_params_steps_tags_and_files_and_ends_succeeded(
    local: Local, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with local.runs.start("my-loop", experiment="exp-a", params={"lr": 0.1}) as run:
        for loss in (0.9, 0.5, 0.25):
            run.log_metric("loss", loss)
        run.log_metrics({"acc": 0.8}, step=7)
        run.log_params({"batch": 32})
        run.set_tag("team", "ml")
        assert run.log_artifact(notes, artifact_path="docs") == "docs/notes.txt"
        assert run.info().status == "running"
    shown = local.runs.get(run.id[:8])
    assert (shown.status, shown.kind, shown.name, shown.experiment) == (
        "succeeded",
        "tracked",
        "my-loop",
        "exp-a",
    )
    assert shown.params == {"lr": "0.1", "batch": "32"}
    assert shown.tags == {"team": "ml"}
    assert shown.history == [
        {"step": 0.0, "loss": 0.9},
        {"step": 1.0, "loss": 0.5},
        {"step": 2.0, "loss": 0.25},
        {"step": 7.0, "acc": 0.8},
    ]
    assert shown.metrics == {"loss": 0.25, "acc": 0.8}
    assert shown.artifacts == ["docs/notes.txt"]
    assert shown.dataset == "" and shown.finished_at is not None
    assert [r.id for r in local.runs.list()] == [run.id]


def test_an_exception_ends_the_run_failed_and_is_raised(local: Local) -> None:
    with pytest.raises(RuntimeError, match="diverged"), local.runs.start("x") as run:
        run.log_metric("loss", float("inf"))
        raise RuntimeError("diverged")
    failed = local.runs.get(run.id)
    assert failed.status == "failed" and "diverged" in (failed.error or "")


def test_a_param_keeps_its_first_value(local: Local) -> None:
    with local.runs.start("x", params={"lr": 0.1}) as run:
        run.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(Conflict, match="cannot change"):
            run.log_param("lr", 0.2)
    assert local.runs.get(run.id).params == {"lr": "0.1"}


def test_bad_input_is_refused_and_nothing_is_lost(local: Local, tmp_path: Path) -> None:
    run = local.runs.start("x")
    run.log_metric("loss", 1.0)
    with pytest.raises(Invalid, match="number"):
        run.log_metrics({"loss": "high"})  # type: ignore[dict-item]
    with pytest.raises(NotFound, match="does not exist"):
        run.log_artifact(tmp_path / "missing.bin")
    with pytest.raises(Invalid, match="relative path"):
        run.log_artifact(_file(tmp_path), artifact_path="../../elsewhere")
    with pytest.raises(Invalid, match="unknown run status"):
        run.end("done")
    assert local.runs.get(run.id).history == [{"step": 0.0, "loss": 1.0}]


def test_a_folder_is_uploaded_file_by_file_and_read_back_verified(local: Local, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}")
    (folder / "sub" / "w.bin").write_bytes(b"\x00\x01")
    with local.runs.start("x") as run:
        assert run.log_artifact(folder) == "model"
    assert local.runs.get(run.id).artifacts == ["model/MLmodel", "model/sub/w.bin"]
    root = f"0/{run.id}/artifacts"
    assert read_file(local.store, f"{root}/model/sub/w.bin") == b"\x00\x01"


def test_a_modelplane_training_run_takes_no_logged_values(local: Local) -> None:
    store: Store = local.store
    with local.runs.start("mine") as run:
        pass
    with store.db.session() as session:
        row = session.scalar(select(Run).where(Run.id == run.id))
        assert row is not None
        row.kind = "sklearn"  # as a trained run
    with pytest.raises(Conflict, match="training run"):
        tracking.log_run(store, run.id, params={"a": 1})


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "f.txt"
    path.write_text("x")
    return path


def test_register_model_imports_the_file_with_lineage_to_the_run(local: Local, tmp_path: Path) -> None:
    with local.runs.start("own") as run:
        version = run.register_model("iris-own", skops_classifier(tmp_path))
        with pytest.raises(Invalid, match="logged nothing"):
            run.register_model("iris-own", "never/logged.skops")
    assert (version.ref, version.run_id, version.task) == ("iris-own@1", run.id, "classification")
    shown = local.runs.get(run.id)
    assert (shown.model_version, shown.model_name, shown.artifacts) == (
        "iris-own@1",
        "iris-own",
        ["model/iris.skops"],
    )
    assert [r.model_name for r in local.runs.list(model="iris-own")] == ["iris-own"]


def test_ctrl_c_ends_interrupted_and_an_explicit_end_is_kept(local: Local) -> None:
    with pytest.raises(KeyboardInterrupt), local.runs.start("x") as stopped:
        raise KeyboardInterrupt
    assert local.runs.get(stopped.id).status == "interrupted"
    with local.runs.start("y") as run:
        assert run.end("failed").status == "failed"
    assert local.runs.get(run.id).status == "failed"


def test_deleting_a_tracked_run_row_takes_its_points_and_files_rows(local: Local, tmp_path: Path) -> None:
    from modelplane.store.orm import LoggedModel, RunArtifact, RunMetricPoint

    with local.runs.start("x") as run:
        run.log_metric("loss", 1.0)
        run.log_artifact(_file(tmp_path))
    with local.store.db.session() as session:
        session.add(
            LoggedModel(id="m-1", experiment_id=0, run_id=run.id, name="m", status="LOGGED_MODEL_READY")
        )
    with local.store.db.session() as session:
        row = session.get(Run, run.id)
        assert row is not None
        session.delete(row)  # what run deletion does
    with local.store.db.session() as session:
        assert session.scalars(select(RunMetricPoint)).all() == []
        assert session.scalars(select(RunArtifact)).all() == []
        model = session.get(LoggedModel, "m-1")
        assert model is not None and model.run_id is None
