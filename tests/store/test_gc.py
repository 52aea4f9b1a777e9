"""gc frees exactly the bytes no live row references (counted by hand here), leaves what a writer may be
about to point at alone, and a dry run changes nothing."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from sqlalchemy import func, select

from modelplane.registry.artifacts import attach, put
from modelplane.registry.deletion import delete_version
from modelplane.registry.gc import collect
from modelplane.registry.registry import NewVersion, register
from modelplane.store import Store
from modelplane.store.orm import Artifact, ModelVersion, ModelVersionArtifact

_OLD = time.time() - 7200  # older than gc's default grace period


def _disk_bytes(store: Store) -> int:
    root = store.artifacts.root
    return sum(p.stat().st_size for p in root.glob("??/*") if p.is_file())


def _register(store: Store, tmp_path: Path, payload: bytes) -> str:
    weights = tmp_path / "w.bin"
    weights.write_bytes(payload)
    spec = {"kind": "mlp", "input_shape": [4]}
    new = NewVersion("m", "classification", "torch", "mlp", spec, weights, {}, {}, ["a", "b"])
    return register(store, new).ref


def _age_everything(store: Store) -> None:
    for path in store.artifacts.root.glob("??/*"):
        os.utime(path, (_OLD, _OLD))
    with store.db.session() as session:
        for row in session.scalars(select(Artifact)):
            row.created_at = row.created_at.fromtimestamp(_OLD)


def test_gc_frees_exactly_the_unreferenced_bytes(store: Store, tmp_path: Path) -> None:
    _frees_exactly_the_unreferenced_bytes(store, tmp_path)


def test_gc_frees_exactly_the_unreferenced_bytes_on_postgres(pg_database: str, tmp_path: Path) -> None:
    store = Store(pg_database, tmp_path / "home" / "artifacts", tmp_path / "home" / "runs")
    try:
        _frees_exactly_the_unreferenced_bytes(store, tmp_path)
    finally:
        store.close()


def _frees_exactly_the_unreferenced_bytes(store: Store, tmp_path: Path) -> None:
    rng = random.Random(7)
    kept_version = _register(store, tmp_path, b"keep" * 100)
    gone_version = _register(store, tmp_path, b"gone" * 250)
    expected = 1000  # the deleted version's weights
    blobs = [rng.randbytes(rng.randint(1, 4000)) for _ in range(300)]
    attached = [put(store, b) for b in blobs[:100]]  # referenced by the live version
    for b in blobs[100:200]:  # stored with a row (a retired version's file), referenced by nothing
        stored = put(store, b)
        with store.db.session() as session:
            session.add(Artifact(sha256=stored.sha256, size=stored.size))
        expected += len(b)
    for b in blobs[200:]:  # stored, never given a row (a writer that crashed before its commit)
        store.artifacts.put_bytes(b)
        expected += len(b)
    with store.db.session() as session:
        row = session.scalar(select(ModelVersion).where(ModelVersion.version == 1))
        assert row is not None
        for i, stored in enumerate(attached):
            attach(session, row, f"extra{i}", stored)
    delete_version(store, gone_version)
    _age_everything(store)
    before = _disk_bytes(store)

    dry = collect(store, dry_run=True)
    assert dry.categories[0].bytes == expected and _disk_bytes(store) == before

    report = collect(store)
    artifacts = report.categories[0]
    assert (artifacts.name, artifacts.items, artifacts.bytes) == ("artifacts", 201, expected)
    assert report.total_bytes == expected
    assert _disk_bytes(store) == before - expected  # the bytes really left the disk
    for b in blobs[:100]:
        assert put(store, b).sha256 in {s.sha256 for s in attached}
    with store.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Artifact)) == 101  # live weights + extras
        assert session.scalar(select(func.count()).select_from(ModelVersionArtifact)) == 101
    assert kept_version == "m@1"
    assert collect(store).total_bytes == 0  # nothing left to free


def test_gc_leaves_blobs_a_writer_may_be_about_to_use(store: Store) -> None:
    fresh = store.artifacts.put_bytes(b"just written, row not committed yet")
    reused = store.artifacts.put_bytes(b"old, but a writer found it stored and reuses it")
    os.utime(store.artifacts.path_for(reused), (_OLD, _OLD))
    assert store.artifacts.put_bytes(b"old, but a writer found it stored and reuses it") == reused  # touches
    assert collect(store).total_bytes == 0
    assert store.artifacts.exists(fresh) and store.artifacts.exists(reused)
    assert collect(store, grace_s=0).categories[0].items == 2


def test_gc_removes_crashed_temp_files_and_stale_uploads(store: Store) -> None:
    temp = store.artifacts.tmp_dir / "write-crashed"
    temp.write_bytes(b"x" * 10)
    upload = store.settings.home / "uploads" / ("a" * 32)
    upload.mkdir(parents=True)
    (upload / "0.chunk").write_bytes(b"y" * 20)
    for path in (temp, upload / "0.chunk", upload):
        os.utime(path, (_OLD, _OLD))
    report = collect(store, upload_retention_s=60)
    found = {c.name: c.bytes for c in report.categories}
    assert found["temp"] == 10 and found["uploads"] == 20
    assert not temp.exists() and not upload.exists()


def test_gc_keeps_the_files_a_tracked_run_logged(store: Store, tmp_path: Path) -> None:
    from modelplane.training.tracking import LocalRun, start

    logged = tmp_path / "notes.txt"
    logged.write_bytes(b"what my own training loop wrote" * 10)
    run = LocalRun(store, start(store, "mine", by="me"), "me")
    run.log_artifact(logged)
    run.end()
    _age_everything(store)
    assert collect(store, grace_s=0).total_bytes == 0
    [(path, _)] = [(p, p.stat().st_size) for p in store.artifacts.root.glob("??/*")]
    assert path.read_bytes() == logged.read_bytes()
