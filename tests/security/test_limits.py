from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timezone

import pytest

from modelplane.errors import Invalid, QuotaExceeded
from modelplane.security.limits import Limiter, Quota, RateLimit, parse_quota, parse_rate
from modelplane.security.metering import Meter
from modelplane.security.principal import Principal
from modelplane.security.roles import Role
from modelplane.store import Store


def _key(rate: str | None = None, quota: str | None = None, key_id: str = "0123456789ab") -> Principal:
    return Principal(
        key_id=key_id,
        name="acme",
        role=Role.CONSUMER,
        deployments=("digits",),
        rate=parse_rate(rate) if rate else None,
        quota=parse_quota(quota) if quota else None,
    )


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("50/s", RateLimit(50, 1, 50), "50/s"),
        ("600 / min", RateLimit(600, 60, 600), "600/m"),
        ("10/h,burst=2", RateLimit(10, 3600, 2), "10/h,burst=2"),
    ],
)
def test_rates_parse_to_a_canonical_form(text: str, expected: RateLimit, canonical: str) -> None:
    assert parse_rate(text) == expected and str(expected) == canonical


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("100000/month", Quota(100_000, "requests"), "100000/month"),
        ("1e6samples/month", Quota(1_000_000, "samples"), "1000000samples/month"),
        ("2_500 requests / mo", Quota(2_500, "requests"), "2500/month"),
    ],
)
def test_quotas_parse_to_a_canonical_form(text: str, expected: Quota, canonical: str) -> None:
    assert parse_quota(text) == expected and str(expected) == canonical


@pytest.mark.parametrize("text", ["", "50", "50/d", "0/s", "-5/s", "5/s,burst=0", "fast"])
def test_bad_rates_say_the_format(text: str) -> None:
    with pytest.raises(Invalid, match="--rate"):
        parse_rate(text)


@pytest.mark.parametrize("text", ["100000", "100/day", "1.5/month", "0/month", "1e16/month", "5 rows/month"])
def test_bad_quotas_say_the_format(text: str) -> None:
    with pytest.raises(Invalid, match="--quota"):
        parse_quota(text)


def test_the_bucket_refuses_past_its_burst_with_a_retry_after() -> None:
    now = [0.0]
    limiter = Limiter(clock=lambda: now[0])
    key = _key(rate="10/s,burst=3")
    for _ in range(3):
        limiter.admit(key)
    with pytest.raises(QuotaExceeded, match="rate limit of 10/s,burst=3") as caught:
        limiter.admit(key)
    assert caught.value.retry_after == pytest.approx(0.1)
    now[0] = 0.1
    limiter.admit(key)


def test_threads_are_never_admitted_beyond_rate_times_time_plus_burst() -> None:
    limiter = Limiter()
    key = _key(rate="200/s,burst=10")
    admitted = [0] * 4
    started = time.monotonic()
    deadline = started + 0.3

    def hammer(slot: int) -> None:
        while time.monotonic() < deadline:
            try:
                limiter.admit(key)
                admitted[slot] += 1
            except QuotaExceeded:
                pass

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert 10 <= sum(admitted) <= 200 * elapsed + 10


def test_asyncio_tasks_are_never_admitted_beyond_rate_times_time_plus_burst() -> None:
    limiter = Limiter()
    key = _key(rate="300/s,burst=5")

    async def hammer(deadline: float) -> int:
        admitted = 0
        while time.monotonic() < deadline:
            try:
                limiter.admit(key)
                admitted += 1
            except QuotaExceeded:
                pass
            await asyncio.sleep(0)
        return admitted

    async def main() -> tuple[int, float]:
        started = time.monotonic()
        counts = await asyncio.gather(*(hammer(started + 0.3) for _ in range(20)))
        return sum(counts), time.monotonic() - started

    admitted, elapsed = asyncio.run(main())
    assert 5 <= admitted <= 300 * elapsed + 5


def test_the_monthly_quota_survives_a_restart(store: Store) -> None:
    key = _key(quota="5/month")
    limiter = Limiter(store)
    with Meter(store) as meter:
        for _ in range(3):
            limiter.admit(key)
            meter.record("0123456789ab", "digits", "digits@1", samples=1, compute_ms=1.0)
        meter.record("0123456789ab", "digits", "digits@1", samples=1, compute_ms=0.0, status="rejected")
    restarted = Limiter(store)  # seeded from the usage table; the refusal does not count
    assert restarted.used("0123456789ab") == 3
    restarted.admit(key)
    restarted.admit(key)
    with pytest.raises(QuotaExceeded, match="used 5 of its 5 requests this month") as caught:
        restarted.admit(key)
    assert 0 < caught.value.retry_after <= 31 * 86_400


def test_a_samples_quota_counts_rows_and_resets_with_the_month() -> None:
    wall = [datetime(2026, 11, 30, 23, 59, tzinfo=timezone.utc).timestamp()]
    limiter = Limiter(wall=lambda: wall[0])
    key = _key(quota="1000samples/month")
    limiter.admit(key, samples=600)
    with pytest.raises(QuotaExceeded, match="needs 600") as caught:
        limiter.admit(key, samples=600)
    assert caught.value.retry_after == pytest.approx(60)
    limiter.admit(key, samples=400)
    wall[0] += 120  # December
    limiter.admit(key, samples=1000)
    assert limiter.used(key.key_id or "", "samples") == 1000


def test_keys_without_limits_and_the_local_user_are_not_counted() -> None:
    limiter = Limiter()
    limiter.admit(Principal.local("alice"))
    limiter.admit(_key())
    assert limiter.used("0123456789ab") == 0
