"""Triggers fire exactly once per dataset version (and per schedule tick) however many watchers race for
them, on SQLite and PostgreSQL; a watcher that dies between recording a firing and queueing its job leaves
it to the next."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from modelplane.data.ingest import IngestOptions, add_dataset
from modelplane.jobs.queue import list_jobs
from modelplane.retrain import firings
from modelplane.retrain.firings import resubmit_orphans
from modelplane.retrain.policies import get_policy, set_policy
from modelplane.retrain.triggers import fire_new_data, fire_schedules
from modelplane.retrain.views import FiringInfo
from modelplane.store import Store
from modelplane.store.orm import RetrainPolicy, utcnow
from tests.retrain.conftest import MODEL, Files, World, train

RACERS = 4


def _race(url: str, root: Path, fire: Callable[[Store], list[FiringInfo]]) -> list[FiringInfo]:
    """Every racer opens its own store (its own connections), then all fire at once."""
    stores = [Store(url, root / "artifacts", root / "runs") for _ in range(RACERS)]
    barrier = threading.Barrier(RACERS)

    def one(store: Store) -> list[FiringInfo]:
        barrier.wait()
        return fire(store)

    try:
        with ThreadPoolExecutor(RACERS) as pool:
            return [f for found in pool.map(one, stores) for f in found]
    finally:
        for store in stores:
            store.close()


def _check_new_data_fires_once(store: Store, url: str, root: Path, more: Path) -> None:
    set_policy(store, MODEL, data="digits", gate="accuracy>=0")
    for version in (2, 3):
        add_dataset(store, "digits", str(more), IngestOptions(target="label", append=True))
        fired = _race(url, root, fire_new_data)
        assert [f.dataset for f in fired] == [f"digits@{version}"]
        assert fire_new_data(store) == []
    jobs = list_jobs(store, kind="retrain")
    assert sorted(j.id for j in jobs) == sorted(f.job_id for f in get_policy(store, MODEL).history)
    assert len(jobs) == 2


def test_new_data_fires_once_on_sqlite(world: World, isolated_home: Path) -> None:
    _check_new_data_fires_once(world.store, world.store.db.url, isolated_home, world.more)


def test_new_data_fires_once_on_postgres(pg_database: str, files: Files, tmp_path: Path) -> None:
    root = tmp_path / "pg-home"
    store = Store(pg_database, root / "artifacts", root / "runs")
    try:
        add_dataset(store, "digits", str(files.base), IngestOptions(target="label"))
        train(store, spec={"hidden": [16]}, train={"epochs": 1})
        _check_new_data_fires_once(store, pg_database, root, files.more)
    finally:
        store.close()


def test_a_schedule_tick_fires_once(world: World, isolated_home: Path) -> None:
    store = world.store
    policy = set_policy(store, MODEL, data="digits", on="schedule:*/5 * * * *")
    assert policy.on == "schedule:*/5 * * * *" and policy.next_fire_at is not None
    assert policy.next_fire_at.minute % 5 == 0 and policy.next_fire_at > utcnow()
    assert fire_schedules(store, utcnow()) == []  # not due yet
    due = utcnow() - timedelta(minutes=1)
    with store.db.session() as session:
        session.execute(update(RetrainPolicy).values(next_fire_at=due))
    fired = _race(store.db.url, isolated_home, lambda s: fire_schedules(s, utcnow()))
    assert len(fired) == 1 and fired[0].trigger == "schedule" and fired[0].dataset == "digits@1"
    assert "schedule '*/5 * * * *'" in fired[0].reason
    assert fire_schedules(store, utcnow()) == []
    after = get_policy(store, MODEL).next_fire_at
    assert after is not None and after > utcnow()


def test_a_firing_whose_job_was_never_queued_is_queued_later(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = world.store
    set_policy(store, MODEL, data="digits")
    world.append()
    with monkeypatch.context() as patched:  # the watcher dies right after recording the firing
        patched.setattr(firings, "_submit", lambda *_: None)
        [fired] = fire_new_data(store)
    assert list_jobs(store, kind="retrain") == []
    assert resubmit_orphans(store, utcnow()) == 0  # young firings are left to the watcher recording them
    assert resubmit_orphans(store, utcnow() + timedelta(seconds=firings.ORPHAN_AFTER_S + 1)) == 1
    [job] = list_jobs(store, kind="retrain")
    assert job.id == fired.job_id and job.params == {"firing": fired.id, "model": MODEL}
    assert resubmit_orphans(store, utcnow() + timedelta(seconds=60)) == 0
