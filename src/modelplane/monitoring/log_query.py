"""Reading the prediction log for people and clients: `--since 1h` or an ISO time, a bounded limit, and a
clear error for a deployment that has neither a definition nor a log."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from modelplane.errors import Invalid
from modelplane.monitoring.log_files import log_dir, read_log
from modelplane.monitoring.settings import parse_duration
from modelplane.serving.deployments import get_deployment
from modelplane.store import Store

MAX_LIMIT = 1_000_000  # rows one read may return (Parquet); JSON answers are bounded lower by the API


def parse_when(
    value: datetime | str | None, what: str = "since", now: datetime | None = None
) -> datetime | None:
    """A point in time: a datetime, an ISO 8601 time (UTC when it names no zone), or a duration ago
    (`1h`, `30m`, `7d`)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    text = value.strip()
    if text and text[-1] in "smhdw" and text[0].isdigit():
        return (now or datetime.now(UTC)) - parse_duration(text, what)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"{what} {value!r} is neither a duration nor an ISO time; write e.g. 1h, 30m, 7d or "
            "2026-05-01T12:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_predictions(
    store: Store,
    deployment: str,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    limit: int = 1000,
    home: Path | None = None,
) -> pa.Table:
    """The newest `limit` logged rows of `deployment` in [since, until), oldest first. NotFound when the
    deployment is neither defined nor has a log (a deleted deployment's log stays readable)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT:,}, got {limit}")
    start, end = parse_when(since, "since"), parse_when(until, "until")
    if start is not None and end is not None and end <= start:
        raise Invalid(f"until ({end.isoformat()}) must be after since ({start.isoformat()})")
    home = home or store.settings.home
    if not log_dir(home, deployment).is_dir():
        get_deployment(store, deployment)  # NotFound when it is not defined either
    return read_log(home, deployment, since=start, until=end, limit=limit)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_size(text: str, what: str = "size") -> int:
    """`10GB`, `500MB`, `2GiB`, `1000000` as bytes (KB/MB/GB/TB decimal, KiB/MiB/GiB/TiB binary)."""
    found = _SIZE.match(text)
    if found is None or float(found.group(1)) <= 0:
        raise Invalid(f"{what} {text!r} is not a size; write a positive number and a unit, e.g. 10GB, 500MB")
    unit = found.group(2).lower()
    scale = _SIZE_UNITS[unit[:1]] if "i" not in unit else 1024 ** " kmgt".index(unit[0])
    return int(float(found.group(1)) * scale)
