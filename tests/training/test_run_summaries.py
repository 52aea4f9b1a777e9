"""One page of run summaries (the console's runs table): filters, sorting and paging in the database."""

from __future__ import annotations

import pytest

from modelplane.errors import Invalid
from modelplane.store import Store
from modelplane.training.run_summaries import RunFilter, run_page
from modelplane.training.tracking import end_run, start


def _runs(store: Store) -> list[str]:
    ids = [start(store, f"run-{i}", params={"i": i}, by="alice") for i in range(5)]
    end_run(store, ids[0], "succeeded")
    end_run(store, ids[1], "failed", error="boom")
    return ids


def test_filters_by_status_and_text_and_counts_every_match(store: Store) -> None:
    ids = _runs(store)
    running = run_page(store, RunFilter(status="running"))
    assert running.total == 3 and {r.id for r in running.runs} == set(ids[2:])
    named = run_page(store, RunFilter(text="run-1"))
    assert [r.id for r in named.runs] == [ids[1]] and named.runs[0].status == "failed"


def test_pages_newest_first_and_sorts_by_a_column(store: Store) -> None:
    ids = _runs(store)
    first = run_page(store, RunFilter(), limit=2)
    rest = run_page(store, RunFilter(), offset=2, limit=10)
    assert first.total == rest.total == 5
    assert [r.id for r in first.runs + rest.runs] == list(reversed(ids))
    by_status = run_page(store, RunFilter(), sort="status", order="asc")
    assert [r.status for r in by_status.runs] == sorted(r.status for r in by_status.runs)


def test_an_unknown_sort_or_order_names_the_choices(store: Store) -> None:
    with pytest.raises(Invalid, match="sort by one of started, id"):
        run_page(store, RunFilter(), sort="accuracy")
    with pytest.raises(Invalid, match="'asc' or 'desc'"):
        run_page(store, RunFilter(), order="up")  # type: ignore[arg-type]
