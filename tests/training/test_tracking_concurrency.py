"""Tracked runs started and logged at once, as two servers on one database would: a new experiment is made
once, and every metric point lands (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from modelplane.store import Store
from modelplane.store.orm import Experiment
from modelplane.training import tracking
from modelplane.training.run_catalog import get_run
from modelplane.training.run_handle import MetricPoint
from tests.concurrency import at_once, backend_store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = backend_store(request, tmp_path)
    yield opened
    opened.close()


def test_first_runs_of_a_new_experiment_make_it_once(store: Store) -> None:
    ids: list[str] = []
    errors = at_once(6, lambda n: ids.append(tracking.start(store, f"r{n}", experiment="race")))
    assert not errors, errors
    with store.db.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(Experiment).where(Experiment.name == "race")) == 1
        )
    assert {get_run(store, run_id).experiment for run_id in ids} == {"race"}


def test_points_logged_at_once_are_all_kept(store: Store) -> None:
    run_id = tracking.start(store, "r")
    errors = at_once(
        6,
        lambda n: tracking.log_run(
            store, run_id, metrics=[MetricPoint("loss", n / 10, n)], params={f"p{n}": n}
        ),
    )
    assert not errors, errors
    run = get_run(store, run_id)
    assert [p["step"] for p in run.history] == [float(n) for n in range(6)]
    assert run.params == {f"p{n}": str(n) for n in range(6)}
