from __future__ import annotations

import time
from datetime import date, datetime, timezone

import pytest

from modelplane.errors import Invalid
from modelplane.security import metering
from modelplane.security.metering import Meter, UsageRow, parse_day, usage_report
from modelplane.store import Store

NOV_1 = datetime(2026, 11, 1, 12, tzinfo=timezone.utc).timestamp()
NOV_2 = NOV_1 + 86_400


def test_flush_sums_per_key_deployment_day_and_the_report_groups_them(store: Store) -> None:
    meter = Meter(store)
    for _ in range(3):
        meter.record("k1", "digits", "digits@1", samples=4, compute_ms=2.0, at=NOV_1)
    meter.record("k1", "digits", "digits@2", samples=1, compute_ms=1.0, status="error", at=NOV_1)
    meter.record("k1", "digits", "digits@2", samples=9, compute_ms=0.0, status="rejected", at=NOV_1)
    meter.record("k1", "digits", "digits@1", samples=2, compute_ms=5.0, at=NOV_2)
    meter.record("k2", "iris", "iris@1", samples=1, compute_ms=1.0, at=NOV_2)
    assert meter.pending == 7
    assert meter.flush() == 5  # buckets: (key, deployment, version, day, status)
    assert meter.pending == 0 and meter.flush() == 0
    assert usage_report(store, date(2026, 11, 1)) == [
        UsageRow("k1", "digits", date(2026, 11, 1), 4, 1, 1, 13, 7.0),
        UsageRow("k1", "digits", date(2026, 11, 2), 1, 0, 0, 2, 5.0),
        UsageRow("k2", "iris", date(2026, 11, 2), 1, 0, 0, 1, 1.0),
    ]
    assert [r.key_id for r in usage_report(store, date(2026, 11, 2), key="k2")] == ["k2"]
    assert [r.day for r in usage_report(store, date(2026, 10, 1), date(2026, 11, 1))] == [date(2026, 11, 1)]
    assert usage_report(store) == []  # by default this month's; November 2026 has passed


def test_flushes_add_to_the_same_bucket_on_both_backends(any_store: Store) -> None:
    meter = Meter(any_store)
    for _ in range(2):
        meter.record("k1", "digits", "digits@1", samples=3, compute_ms=1.5, at=NOV_1)
        meter.record("k1", "digits", "digits@1", samples=1, compute_ms=0.5, at=NOV_1)
        meter.flush()
    assert usage_report(any_store, date(2026, 11, 1)) == [
        UsageRow("k1", "digits", date(2026, 11, 1), 4, 0, 0, 8, 4.0)
    ]


def test_close_flushes_what_is_left(store: Store) -> None:
    meter = Meter(store, interval_s=60).start()
    meter.record("k1", "digits", "digits@1", samples=1, compute_ms=1.0, at=NOV_1)
    meter.close()
    assert usage_report(store, date(2026, 11, 1))[0].requests == 1


def test_the_background_flusher_writes_within_its_interval(store: Store) -> None:
    with Meter(store, interval_s=0.05) as meter:
        meter.record("k1", "digits", "digits@1", samples=1, compute_ms=1.0, at=NOV_1)
        deadline = time.monotonic() + 5
        while not usage_report(store, date(2026, 11, 1)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert usage_report(store, date(2026, 11, 1))[0].requests == 1


def test_a_failed_flush_keeps_its_usage_for_the_next(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    meter = Meter(store)
    meter.record("k1", "digits", "digits@1", samples=2, compute_ms=1.0, at=NOV_1)
    real = metering._upsert

    def down(*_args: object) -> None:
        raise ConnectionError("database down")

    monkeypatch.setattr(metering, "_upsert", down)
    with pytest.raises(ConnectionError):
        meter.flush()
    monkeypatch.setattr(metering, "_upsert", real)
    meter.record("k1", "digits", "digits@1", samples=3, compute_ms=1.0, at=NOV_1)
    meter.flush()
    assert usage_report(store, date(2026, 11, 1))[0].samples == 5


def test_bad_input_is_refused_clearly(store: Store) -> None:
    with pytest.raises(ValueError, match="status 'teapot'"):
        Meter(store).record("k", "d", "d@1", samples=1, compute_ms=0, status="teapot")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="interval"):
        Meter(store, interval_s=0)
    with pytest.raises(Invalid, match="--since 'yesterday' is not a date; write YYYY-MM-DD"):
        parse_day("yesterday", "--since")
    with pytest.raises(Invalid, match="before --since"):
        usage_report(store, date(2026, 11, 2), date(2026, 11, 1))
