"""Deleting datasets, runs and studies: refused (naming the holder and the way out) while a run, a model
version, an appended version, a retrain policy or a job still reads them; their rows, checkpoints and files
go when nothing does."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from modelplane.data.catalog import find_version_row, list_versions
from modelplane.data.deletion import delete_dataset
from modelplane.data.ingest import IngestOptions, add_dataset
from modelplane.errors import Conflict, NotFound
from modelplane.jobs.queue import cancel_job, enqueue
from modelplane.refs import Ref
from modelplane.registry.gc import collect
from modelplane.registry.registry import NewVersion, register
from modelplane.store import Store
from modelplane.store.orm import Job, ModelVersion, RetrainPolicy
from modelplane.training.run_catalog import get_run
from modelplane.training.run_deletion import delete_run
from modelplane.training.runs import create_run, parse_run_config


def _csv(path: Path, rows: int) -> Path:
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 4},{'p' if i % 2 else 'q'}\n" for i in range(rows)))
    return path


def _add(store: Store, tmp_path: Path, rows: int, *, append: bool = False) -> str:
    source = _csv(tmp_path / f"d{rows}.csv", rows)
    options = IngestOptions(target="y", append=append)
    return add_dataset(store, "d", str(source), options).version.ref


def _dataset_id(store: Store, ref: str) -> int:
    with store.db.session() as session:
        return find_version_row(session, Ref.parse(ref, "dataset")).id


def _version_on(store: Store, tmp_path: Path, data: str, run_id: str | None = None) -> str:
    weights = tmp_path / "w.bin"
    weights.write_bytes(data.encode() + bytes(32))
    new = NewVersion(
        "m",
        "classification",
        "torch",
        "mlp",
        {"kind": "mlp", "input_shape": [2]},
        weights,
        {},
        {},
        dataset_version_id=_dataset_id(store, data),
        run_id=run_id,
    )
    return register(store, new).ref


def test_a_dataset_version_is_held_by_what_reads_it(store: Store, tmp_path: Path) -> None:
    assert _add(store, tmp_path, 20) == "d@1"
    assert _add(store, tmp_path, 30, append=True) == "d@2"
    with pytest.raises(Conflict, match=r"appended version d@2 .*data delete d@VERSION"):
        delete_dataset(store, "d@1")
    run_id = create_run(store, parse_run_config({"data": "d@2", "model": "mlp"}), queued=True)
    with pytest.raises(Conflict, match=rf"run {run_id} .*runs delete RUN"):
        delete_dataset(store, "d@2")
    job = enqueue(store, "compress", {"ref": "x@1", "request": {"data": "d@2"}}, by="t")
    with pytest.raises(Conflict, match=f"job {job.id}"):
        delete_dataset(store, "d")
    cancel_job(store, job.id, by="t")
    with store.db.session() as session:
        session.add(RetrainPolicy(model="m", dataset="d", trigger="data", gate="", replay=0.0, epochs=1))
    with pytest.raises(Conflict, match="retrain policy of m"):
        delete_dataset(store, "d")
    with pytest.raises(NotFound):
        delete_dataset(store, "d@9")
    with pytest.raises(NotFound, match="data list"):
        delete_dataset(store, "nothing")


def test_a_whole_dataset_goes_with_its_files_and_the_name_starts_again(store: Store, tmp_path: Path) -> None:
    _add(store, tmp_path, 20)
    _add(store, tmp_path, 30, append=True)
    _version_on(store, tmp_path, "d@2")
    with pytest.raises(Conflict, match="model version m@1"):
        delete_dataset(store, "d")
    with store.db.session() as session:
        row = session.scalar(select(ModelVersion))
        assert row is not None
        row.deleted_at = row.created_at  # retired: it keeps no hold, and loses its link to the data
    assert delete_dataset(store, "d", by="bob") == ["d@2", "d@1"]
    with pytest.raises(NotFound):
        list_versions(store, "d")
    with store.db.session() as session:
        assert session.scalar(select(ModelVersion.dataset_version_id)) is None
    assert collect(store, grace_s=0).categories[0].bytes > 0
    assert _add(store, tmp_path, 20) == "d@1"


def test_runs_delete_with_their_checkpoints_unless_a_live_version_came_from_them(
    store: Store, tmp_path: Path
) -> None:
    _add(store, tmp_path, 20)
    run_id = create_run(store, parse_run_config({"data": "d", "model": "mlp"}), queued=True)
    checkpoints = store.runs_dir / run_id / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "epoch-1.pt").write_bytes(b"x")
    job = enqueue(store, "train", {"run_id": run_id, "model": "d-mlp"}, by="t")
    with pytest.raises(Conflict, match=f"queued job {job.id} trains it"):
        delete_run(store, run_id)
    cancel_job(store, job.id, by="t")
    ref = _version_on(store, tmp_path, "d@1", run_id=run_id)
    with pytest.raises(Conflict, match=f"version {ref} came from it"):
        delete_run(store, run_id[:6])
    with store.db.session() as session:
        row = session.scalar(select(ModelVersion))
        assert row is not None
        row.deleted_at = row.created_at
    assert delete_run(store, run_id[:6]) == run_id
    assert not (store.runs_dir / run_id).exists()
    with pytest.raises(NotFound):
        get_run(store, run_id)
    with pytest.raises(NotFound):
        delete_run(store, run_id)


def _study_with_a_trial(store: Store, tmp_path: Path) -> tuple[str, Path]:
    import optuna

    from modelplane.tuning.config import parse_tune_config
    from modelplane.tuning.storage import open_storage, storage_url
    from modelplane.tuning.studies import create_study

    _add(store, tmp_path, 20)
    name = create_study(store, parse_tune_config({"data": "d", "model": "mlp", "trials": 2}))
    study = optuna.load_study(study_name=name, storage=open_storage(storage_url(store)))
    study.add_trial(
        optuna.trial.create_trial(params={}, distributions={}, value=0.5, user_attrs={"run_id": "r1"})
    )
    checkpoints = store.runs_dir / "r1" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "epoch-1.pt").write_bytes(b"c" * 100)
    return name, checkpoints


def test_a_study_goes_with_its_trial_checkpoints_unless_it_is_searched(store: Store, tmp_path: Path) -> None:
    from modelplane.tuning.catalog import get_study
    from modelplane.tuning.deletion import delete_study

    name, checkpoints = _study_with_a_trial(store, tmp_path)
    job = enqueue(store, "tune", {"study": name}, by="t")
    with pytest.raises(Conflict, match=f"searched by job {job.id}"):
        delete_study(store, name)
    with pytest.raises(Conflict, match=f"job {job.id}"):
        delete_dataset(store, "d")  # the study it searches reads it
    with store.db.session() as session:
        session.get_one(Job, job.id).state = "cancelled"
    assert delete_study(store, name, by="bob") == 100
    assert not checkpoints.exists()
    with pytest.raises(NotFound):
        get_study(store, name)
    with pytest.raises(NotFound):
        delete_study(store, name)


def test_gc_takes_the_checkpoints_of_finished_studies(store: Store, tmp_path: Path) -> None:
    _name, checkpoints = _study_with_a_trial(store, tmp_path)
    report = collect(store, grace_s=0)
    assert {c.name: c.bytes for c in report.categories}["checkpoints"] == 100
    assert not checkpoints.exists()


def test_a_version_added_while_its_dataset_is_deleted_waits_and_starts_the_name_afresh(
    pg_database: str, tmp_path: Path
) -> None:
    """On PostgreSQL an append that read the dataset row a concurrent delete removes failed on the foreign
    key (a 500); now it waits for the delete and makes the dataset anew."""
    import threading

    from modelplane.data.catalog import dataset_key
    from modelplane.store.db import serialise
    from modelplane.store.orm import Dataset

    store = Store(pg_database, tmp_path / "home" / "artifacts", tmp_path / "home" / "runs")
    try:
        _add(store, tmp_path, 10)
        added: list[str | BaseException] = []

        def add_more() -> None:
            try:
                added.append(_add(store, tmp_path, 20))
            except BaseException as exc:
                added.append(exc)

        adder = threading.Thread(target=add_more)
        with store.db.session() as session:  # a delete, caught between its checks and its commit
            serialise(session, dataset_key("d"))
            dataset = session.scalar(select(Dataset).where(Dataset.name == "d"))
            assert dataset is not None
            for row in dataset.versions:
                session.delete(row)
            session.delete(dataset)
            session.flush()
            adder.start()
            adder.join(timeout=1.0)
            assert adder.is_alive(), f"the append did not wait for the delete: {added}"
        adder.join(timeout=30)
        assert added == ["d@1"]
        assert [v.ref for v in list_versions(store, "d")] == ["d@1"]
    finally:
        store.close()
