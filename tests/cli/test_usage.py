"""`modelplane usage report` without --since is this month's report (UTC), as its help says."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from modelplane.cli.context import platform
from modelplane.security.metering import Meter
from tests.cli_helpers import run_cli


def test_usage_report_defaults_to_this_month(capsys: pytest.CaptureFixture[str]) -> None:
    first = datetime.now(timezone.utc).date().replace(day=1)
    last_month = datetime.combine(first - timedelta(days=1), time(12), tzinfo=timezone.utc).timestamp()
    with Meter(platform().store) as meter:
        meter.record("k1", "digits", "digits@1", samples=3, compute_ms=1.0, at=last_month)
        meter.record("k1", "digits", "digits@1", samples=5, compute_ms=2.0)  # now
    rows = run_cli(capsys, "usage", "report", "--json")
    assert rows.code == 0, rows.err
    assert [(r["day"], r["samples"]) for r in rows.json()] == [
        (datetime.now(timezone.utc).date().isoformat(), 5)
    ]
    shown = run_cli(capsys, "usage", "report")
    assert shown.code == 0 and f"usage since {first.isoformat()}" in shown.out
    older = run_cli(capsys, "usage", "report", "--since", (first - timedelta(days=1)).isoformat(), "--json")
    assert sorted(r["samples"] for r in older.json()) == [3, 5]
    shown_help = run_cli(capsys, "usage", "report", "--help").out
    assert "default: the 1st of this month" in " ".join(w for w in shown_help.split() if w != "│")
