"""Two servers on one database: usage adds up exactly however their flushes interleave, and a key's
monthly quota is judged on what both served."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from modelplane.errors import QuotaExceeded
from modelplane.security.limits import Limiter
from modelplane.security.metering import Meter, usage_report
from modelplane.store import Store
from tests.concurrency import at_once, backend_store
from tests.security.test_limits import _key

KEY = "0123456789ab"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = backend_store(request, tmp_path)
    yield opened
    opened.close()


def test_concurrent_flushes_of_shared_buckets_add_up_exactly(any_store: Store) -> None:
    """Eight meters (eight servers' flushers) writing the same buckets in different orders at once."""
    meters = [Meter(any_store) for _ in range(8)]
    deployments = [f"d{n}" for n in range(6)]
    for n, meter in enumerate(meters):
        for i in range(60):  # each meter records the buckets in its own order
            meter.record(KEY, deployments[(n + i) % 6], "v1", samples=2, compute_ms=1.0)
    assert at_once(len(meters), lambda n: meters[n].flush()) == []
    rows = usage_report(any_store, date.today() - timedelta(days=1))
    assert sum(r.requests for r in rows) == 8 * 60 and sum(r.samples for r in rows) == 8 * 60 * 2
    assert {r.deployment: r.requests for r in rows} == dict.fromkeys(deployments, 80)


def test_a_quota_counts_what_every_server_admitted(any_store: Store) -> None:
    key = _key(quota="10/month")
    limiters = [Limiter(any_store), Limiter(any_store)]
    meters = [Meter(any_store, limiter=limiter) for limiter in limiters]
    for limiter, meter in zip(limiters, meters, strict=True):
        for _ in range(4):
            limiter.admit(key)
            meter.record(KEY, "digits", "digits@1", samples=1, compute_ms=1.0)
    for meter in meters:
        meter.flush()
    limiters[0].admit(key)  # after the flush: counted by its server, not stored yet
    for limiter in limiters:  # what each server's flusher does after writing
        limiter.resync(any_store)
    assert [limiter.used(KEY) for limiter in limiters] == [9, 8]
    admitted = 0
    with pytest.raises(QuotaExceeded, match="used 10 of its 10"):
        while True:
            limiters[1].admit(key)
            admitted += 1
    assert admitted == 2  # not the 6 its own count of 4 would have let through
