"""`retrain MODEL` and the new-data trigger share one firing per dataset version, whoever comes first (on
SQLite and PostgreSQL, racing); a version already retrained on fires again only by hand. In-process, the
CLI says that a canary's later promotion needs a running `up` or `worker`."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import update

from modelplane.cli.context import platform
from modelplane.cli.retrain import _promotion_note
from modelplane.data.ingest import IngestOptions, add_dataset
from modelplane.errors import Conflict
from modelplane.jobs.pool import live_workers
from modelplane.jobs.queue import list_jobs
from modelplane.retrain.firings import trigger_now
from modelplane.retrain.policies import get_policy, set_policy
from modelplane.retrain.triggers import fire_new_data
from modelplane.retrain.views import FiringInfo
from modelplane.retrain.watcher import RetrainWatcher
from modelplane.store import Store
from modelplane.store.orm import RetrainFiring
from tests.cli_helpers import run_cli
from tests.jobs.conftest import until
from tests.retrain.conftest import MODEL, Files, World, train

RACERS = 4


def test_retrain_right_after_an_append_is_the_one_firing_of_that_version(world: World) -> None:
    store = world.store
    set_policy(store, MODEL, data="digits")
    world.append()
    fired = trigger_now(store, MODEL, by="alice")
    assert (fired.trigger, fired.dataset) == ("manual", "digits@2")
    assert get_policy(store, MODEL).last_seen_dataset == "digits@2"
    assert fire_new_data(store) == []  # the worker the CLI starts: its watcher sees a version already fired
    RetrainWatcher(store).tick()
    assert [j.id for j in list_jobs(store, kind="retrain")] == [fired.job_id]


def test_a_watcher_first_then_retrain_is_still_one_job(world: World) -> None:
    store = world.store
    set_policy(store, MODEL, data="digits")
    world.append()
    [fired] = fire_new_data(store)
    with pytest.raises(Conflict, match=f"already queued \\(job {fired.job_id}\\)"):
        trigger_now(store, MODEL, by="alice")
    assert [j.id for j in list_jobs(store, kind="retrain")] == [fired.job_id]


def test_a_version_already_retrained_on_fires_again_by_hand(world: World) -> None:
    store = world.store
    set_policy(store, MODEL, data="digits")
    world.append()
    first = trigger_now(store, MODEL, by="alice")
    with store.db.session() as session:  # its job ended (the gate said no, say)
        session.execute(update(RetrainFiring).values(state="gate-failed"))
    again = trigger_now(store, MODEL, by="alice")
    assert again.id != first.id and again.dataset == "digits@2"
    assert len(list_jobs(store, kind="retrain")) == 2


def _race_manual_and_watchers(store: Store, url: str, root: Path, more: Path) -> None:
    set_policy(store, MODEL, data="digits")
    add_dataset(store, "digits", str(more), IngestOptions(target="label", append=True))
    stores = [Store(url, root / "artifacts", root / "runs") for _ in range(RACERS)]
    barrier = threading.Barrier(RACERS)

    def one(index: int) -> list[FiringInfo]:
        barrier.wait()
        if index == 0:
            try:
                return [trigger_now(stores[0], MODEL, by="alice")]
            except Conflict:  # a watcher's firing was queued before this one looked
                return []
        return fire_new_data(stores[index])

    try:
        with ThreadPoolExecutor(RACERS) as pool:
            fired = {f.id: f for found in pool.map(one, range(RACERS)) for f in found}
    finally:
        for opened in stores:
            opened.close()
    [job] = list_jobs(store, kind="retrain")
    assert [f.job_id for f in fired.values()] == [job.id]
    assert [f.dataset for f in get_policy(store, MODEL).history] == ["digits@2"]


def test_manual_and_watchers_racing_make_one_job_on_sqlite(world: World, isolated_home: Path) -> None:
    _race_manual_and_watchers(world.store, world.store.db.url, isolated_home, world.more)


def test_manual_and_watchers_racing_make_one_job_on_postgres(
    pg_database: str, files: Files, tmp_path: Path
) -> None:
    root = tmp_path / "pg-home"
    store = Store(pg_database, root / "artifacts", root / "runs")
    try:
        add_dataset(store, "digits", str(files.base), IngestOptions(target="label"))
        train(store, spec={"hidden": [16]}, train={"epochs": 1})
        _race_manual_and_watchers(store, pg_database, root, files.more)
    finally:
        store.close()


def test_in_process_retrain_makes_one_job_and_says_the_canary_needs_a_server(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI as a user runs it: the worker it starts (a real process) runs the job and its watcher."""
    policy = ["retrain-policy", "set", MODEL, "--data", "digits", "--gate", "accuracy>=0", "--epochs", "1"]
    assert run_cli(capsys, *policy, "--canary", "10:15m").code == 0
    world.append()
    done = run_cli(capsys, "retrain", MODEL, "--wait")
    until(lambda: live_workers(world.store) == 0, timeout_s=60, what="the started worker to exit")
    assert done.code == 0, done.err
    text = " ".join(done.out.split())
    assert "canary: gate passed; canary digits-mlp@2 takes 10% of digits-mlp for 15m" in text
    assert "production moves to the candidate at " in text
    assert (
        "only while `modelplane up` or `modelplane worker` (without --until-idle) runs on this store" in text
    )
    [job] = list_jobs(world.store, kind="retrain")
    [firing] = get_policy(world.store, MODEL).history
    assert (firing.job_id, firing.trigger, firing.state) == (job.id, "manual", "canary")


def test_the_note_before_the_job_runs_and_none_against_a_server(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_policy(world.store, MODEL, data="digits", canary="10:15m")
    world.append()
    fired = trigger_now(world.store, MODEL, by="alice")
    note = _promotion_note(fired, waited=False)
    assert (
        note is not None
        and "production moves to the candidate 15m after its canary starts only while" in note
    )
    set_policy(world.store, MODEL, data="digits", canary="none")
    assert _promotion_note(platform().retrain_policies.get(MODEL).history[0], waited=True) is None  # queued
    monkeypatch.setenv("MODELPLANE_URL", "http://127.0.0.1:8000")
    assert _promotion_note(fired, waited=False) is None  # the server's watcher promotes it
