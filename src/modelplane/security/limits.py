"""Per-key rate limits (token bucket) and monthly quotas: judged in memory, never a query per request.

Formats (the `keys create` flags): `--rate 50/s`, `600/m`, `10000/h`, optionally `,burst=N` (default:
the whole window's count may arrive at once); `--quota 100000/month` (requests), `1e6samples/month`.
Quota counts start from this month's usage table when the limiter is built, then count admissions in
memory; usage lost to a kill -9 (at most one metering flush interval) is therefore not charged. Where
several servers share one database, each re-reads the table after each metering flush (`resync`), so a
key's quota is judged on what all of them served, give or take the requests of the last flush interval.
Rate limits stay per server: N servers behind a balancer admit up to N times a key's rate.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from sqlalchemy import func, select

from modelplane.errors import Invalid, QuotaExceeded
from modelplane.store import Store
from modelplane.store.orm import Usage

if TYPE_CHECKING:
    from modelplane.security.principal import Principal

QuotaUnit = Literal["requests", "samples"]
# Usage rows with this status were refused by the limiter, so they do not count against a quota.
REJECTED = "rejected"

_WINDOWS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_UNIT_OF_WINDOW = {1: "s", 60: "m", 3600: "h"}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*(?:,\s*burst\s*=\s*(\d+)\s*)?$", re.IGNORECASE)
_QUOTA = re.compile(
    r"^\s*(\d[\d_]*(?:\.\d+)?(?:e\+?\d+)?)\s*(requests?|samples?)?\s*/\s*(month|mo)\s*$", re.IGNORECASE
)
_MAX_QUOTA = 10**15


@dataclass(frozen=True)
class RateLimit:
    """`count` requests per `window_s` seconds, with up to `burst` at once."""

    count: int
    window_s: int
    burst: int

    @property
    def per_second(self) -> float:
        return self.count / self.window_s

    def __str__(self) -> str:
        text = f"{self.count}/{_UNIT_OF_WINDOW[self.window_s]}"
        return text if self.burst == self.count else f"{text},burst={self.burst}"


@dataclass(frozen=True)
class Quota:
    """At most `limit` requests (or samples, i.e. rows predicted) per calendar month, UTC."""

    limit: int
    unit: QuotaUnit

    def __str__(self) -> str:
        return f"{self.limit}/month" if self.unit == "requests" else f"{self.limit}samples/month"


def parse_rate(text: str) -> RateLimit:
    match = _RATE.match(text)
    window = _WINDOWS.get(match.group(2).lower()) if match else None
    if match is None or window is None:
        raise Invalid(
            f"--rate {text!r} is not COUNT/UNIT (UNIT s, m or h), e.g. 50/s, 600/m or 50/s,burst=10"
        )
    count = int(match.group(1))
    burst = int(match.group(3)) if match.group(3) else count
    if count < 1 or burst < 1:
        raise Invalid(
            f"--rate {text!r}: the count and burst must be at least 1 (use /m or /h for slower rates)"
        )
    return RateLimit(count, window, burst)


def parse_quota(text: str) -> Quota:
    match = _QUOTA.match(text)
    if match is None:
        raise Invalid(
            f"--quota {text!r} is not COUNT[requests|samples]/month, e.g. 100000/month or 1e6samples/month"
        )
    value = float(match.group(1).replace("_", ""))
    if not value.is_integer() or not 1 <= value <= _MAX_QUOTA:
        raise Invalid(f"--quota {text!r}: the count must be a whole number from 1 to {_MAX_QUOTA:.0e}")
    unit: QuotaUnit = "samples" if (match.group(2) or "").lower().startswith("sample") else "requests"
    return Quota(int(value), unit)


class TokenBucket:
    """Refills at `rate` tokens/s up to `burst`; not locked itself (the Limiter's lock guards it)."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate, self._burst = rate, float(burst)
        self._tokens, self._last = float(burst), now

    def take(self, now: float) -> float:
        """Take one token: 0.0 when admitted, else the seconds until one is available."""
        tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / self._rate


def month_bounds(ts: float) -> tuple[datetime, datetime]:
    """The UTC calendar month holding the epoch time `ts`: [start, end)."""
    start = datetime.fromtimestamp(ts, timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


class Limiter:
    """Admits or refuses one request per call; thread- and asyncio-safe (one lock, held for microseconds)."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._new_month(wall())
        if store is not None:
            self._seed(store)

    def _new_month(self, now: float) -> None:
        self._month_start, self._month_end = month_bounds(now)
        self._month_end_ts = self._month_end.timestamp()  # compared on every request
        self._used: dict[QuotaUnit, dict[str, int]] = {"requests": {}, "samples": {}}
        self._since_mark: dict[QuotaUnit, dict[str, int]] = {"requests": {}, "samples": {}}

    def _seed(self, store: Store) -> None:
        """This month's usage per key, so a restart does not hand out a fresh quota."""
        self._used = _stored_usage(store, self._month_start)

    def mark(self) -> None:
        """The meter is about to write what it has recorded: admissions from here on are not stored yet."""
        with self._lock:
            self._since_mark = {"requests": {}, "samples": {}}

    def resync(self, store: Store) -> None:
        """Count quotas from what every server on this database admitted: this month's stored usage (the
        meter wrote this server's share up to its last `mark`) plus what this one admitted since."""
        with self._lock:
            month = self._month_start
        stored = _stored_usage(store, month)
        with self._lock:
            if month != self._month_start:  # a new month began meanwhile: its counts start from zero
                return
            for unit, since in self._since_mark.items():
                self._used[unit] = {
                    key: stored[unit].get(key, 0) + since.get(key, 0) for key in {*stored[unit], *since}
                }

    def used(self, key_id: str, unit: QuotaUnit = "requests") -> int:
        """Counted this month so far (requests or samples)."""
        with self._lock:
            return self._used[unit].get(key_id, 0)

    def admit(self, principal: Principal, samples: int = 1) -> None:
        """Charge one request of `samples` rows to the key, or raise QuotaExceeded with `retry_after`.
        Only keys with a quota are counted (the count is what a quota is judged on)."""
        key, quota, rate = principal.key_id, principal.quota, principal.rate
        if key is None or (rate is None and quota is None):
            return
        with self._lock:
            if quota is not None:
                now = self._wall()
                if now >= self._month_end_ts:
                    self._new_month(now)
                cost = 1 if quota.unit == "requests" else samples
                used = self._used[quota.unit].get(key, 0)
                if used + cost > quota.limit:
                    raise QuotaExceeded(
                        f"API key {key} has used {used:,} of its {quota.limit:,} {quota.unit} this month "
                        f"(this request needs {cost:,}); the quota resets on "
                        f"{self._month_end:%Y-%m-%d} 00:00 UTC, or an admin can issue a key with a "
                        "larger --quota",
                        retry_after=self._month_end_ts - now,
                    )
            if rate is not None:
                bucket = self._buckets.get(key)
                tick = self._clock()
                if bucket is None:
                    bucket = self._buckets[key] = TokenBucket(rate.per_second, rate.burst, tick)
                wait = bucket.take(tick)
                if wait > 0.0:
                    raise QuotaExceeded(
                        f"API key {key} is over its rate limit of {rate}; retry in {wait:.3f} s",
                        retry_after=wait,
                    )
            if quota is not None:
                for counts in (self._used, self._since_mark):
                    requests, rows = counts["requests"], counts["samples"]
                    requests[key] = requests.get(key, 0) + 1
                    rows[key] = rows.get(key, 0) + samples


def _stored_usage(store: Store, month_start: datetime) -> dict[QuotaUnit, dict[str, int]]:
    """Requests and samples per key in the usage table since `month_start` (refused ones not counted)."""
    query = (
        select(Usage.key_id, func.sum(Usage.requests), func.sum(Usage.samples))
        .where(Usage.day >= month_start.date(), Usage.status != REJECTED)
        .group_by(Usage.key_id)
    )
    used: dict[QuotaUnit, dict[str, int]] = {"requests": {}, "samples": {}}
    with store.db.session() as session:
        for key_id, requests, samples in session.execute(query):
            used["requests"][key_id] = int(requests or 0)
            used["samples"][key_id] = int(samples or 0)
    return used
