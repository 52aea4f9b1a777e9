"""Reading ahead keeps the order, passes the reader's errors on, and stops when the caller leaves."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from modelplane.errors import Invalid
from modelplane.jobs.batch.ahead import ReadAhead


def test_items_arrive_in_order_with_the_next_one_produced_ahead() -> None:
    produced: list[int] = []
    second_ready = threading.Event()

    def items() -> Iterator[int]:
        for i in range(5):
            produced.append(i)
            if i == 1:
                second_ready.set()
            yield i

    seen = []
    for item in ReadAhead(items()):
        if item == 0:  # the reader produces item 1 while the caller still holds item 0
            assert second_ready.wait(5)
        seen.append(item)
    assert seen == produced == [0, 1, 2, 3, 4]


def test_the_first_item_is_read_before_the_caller_asks_for_it() -> None:
    """A job makes its reader before it loads its model, so the two overlap."""
    first_read = threading.Event()

    def items() -> Iterator[int]:
        first_read.set()
        yield 0

    ahead = ReadAhead(items())
    try:
        assert first_read.wait(5)
    finally:
        ahead.close()
    assert not any(t.name == "batch-read-ahead" for t in threading.enumerate())


def test_an_error_while_reading_reaches_the_caller_after_the_good_items() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise Invalid("column 'x' of rows.csv is empty at row 2")

    seen = []
    with pytest.raises(Invalid, match="empty at row 2"):
        for item in ReadAhead(items()):
            seen.append(item)
    assert seen == [1]


def test_leaving_early_stops_the_reader() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    ahead = ReadAhead(items())
    assert next(iter(ahead)) == 0
    ahead.close()  # what a cancelled job's loop does when it unwinds
    assert len(produced) <= 3
    assert not any(t.name == "batch-read-ahead" for t in threading.enumerate())
