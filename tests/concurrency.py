"""Helpers for races: work released on many threads at once (each thread its own database connection, as
two servers on one database are), and a store on either backend the platform supports."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from modelplane.store import Store


def at_once(count: int, work: Callable[[int], object]) -> list[BaseException]:
    """Run work(0..count-1) on `count` threads released together; the exceptions they raised."""
    start, errors = threading.Barrier(count), []

    def run(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as exc:  # collected and reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def backend_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store on SQLite or on a fresh PostgreSQL database, as `request.param` says."""
    url = (
        f"sqlite:///{tmp_path / 'mp.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_database")
    )
    return Store(url, tmp_path / "artifacts")
