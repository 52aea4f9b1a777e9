"""Console pages: metered usage per key, deployment and day (table, chart, CSV download).

The rows come from security.metering's usage report, as the API's /api/v1/usage does. Who sees what
follows the issue: 'usage:read' sees every key's usage; a consumer (without it) sees its own key's only.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from modelplane.api.deps import MAX_OFFSET
from modelplane.console.web import ConsoleState, Viewer, console, current_viewer, render
from modelplane.security.metering import UsageRow, parse_day, this_month, usage_report

router = APIRouter()
PAGE_SIZE = 200
CSV_COLUMNS = ("day", "key_id", "deployment", "requests", "errors", "rejected", "samples", "compute_ms")


@dataclass(frozen=True)
class UsageFilter:
    since: date
    until: date | None
    key: str | None
    deployment: str | None
    own_only: bool  # a consumer: the key filter is forced to its own key

    def query(self) -> dict[str, str]:
        """The filters as a query string's fields (the CSV link and paging keep them)."""
        fields = {"since": self.since.isoformat(), "until": self.until.isoformat() if self.until else ""}
        fields.update(key="" if self.own_only else self.key or "", deployment=self.deployment or "")
        return {name: value for name, value in fields.items() if value}


def usage_filter(
    since: str | None = Query(None, description="First UTC day, YYYY-MM-DD (default: the 1st of this month)"),
    until: str | None = Query(None, description="Last UTC day, YYYY-MM-DD (default: today)"),
    key: str | None = Query(None, description="Only this key id"),
    deployment: str | None = Query(None, description="Only this deployment"),
    viewer: Viewer = Depends(current_viewer),
) -> UsageFilter:
    """The page's filters, checked like the API's; a viewer without 'usage:read' is held to its own key."""
    own_only = not viewer.can("usage:read")
    if own_only:
        if viewer.principal.key_id is None:
            viewer.require("usage:read")
        key = viewer.principal.key_id
    return UsageFilter(
        since=parse_day(since, "since") if since else this_month(),
        until=parse_day(until, "until") if until else None,
        key=key or None,
        deployment=deployment or None,
        own_only=own_only,
    )


def report(s: ConsoleState, chosen: UsageFilter) -> list[UsageRow]:
    rows = usage_report(s.store, chosen.since, chosen.until, key=chosen.key)
    if chosen.deployment:
        rows = [row for row in rows if row.deployment == chosen.deployment]
    return rows


def per_day(rows: list[UsageRow], first: date, last: date) -> dict[str, list[float]]:
    """Requests, errors and rejections summed per day from `first` to `last` (days without use count 0),
    as the chart's x (unix seconds) and series."""
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        totals = days[row.day]
        totals[0] += row.requests
        totals[1] += row.errors
        totals[2] += row.rejected
    ordered = [first + timedelta(days=n) for n in range((last - first).days + 1)] if rows else []
    return {
        "x": [datetime.combine(day, time(), timezone.utc).timestamp() for day in ordered],
        "requests": [days[day][0] for day in ordered],
        "errors": [days[day][1] for day in ordered],
        "rejected": [days[day][2] for day in ordered],
    }


@router.get("/usage", response_class=HTMLResponse)
def usage_page(
    request: Request,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    chosen: UsageFilter = Depends(usage_filter),
    viewer: Viewer = Depends(current_viewer),
    s: ConsoleState = Depends(console),
) -> HTMLResponse:
    rows = report(s, chosen)
    newest = list(reversed(rows))
    return render(
        request,
        viewer,
        "usage/index.html",
        chosen=chosen,
        rows=newest[offset : offset + PAGE_SIZE],
        total_rows=len(rows),
        offset=offset,
        page_size=PAGE_SIZE,
        chart=per_day(rows, chosen.since, chosen.until or datetime.now(timezone.utc).date()),
        totals={
            "requests": sum(row.requests for row in rows),
            "errors": sum(row.errors for row in rows),
            "rejected": sum(row.rejected for row in rows),
            "samples": sum(row.samples for row in rows),
        },
        keys=sorted({row.key_id for row in rows}),
        deployments=sorted({row.deployment for row in rows}),
    )


@router.get("/usage.csv")
def usage_csv(chosen: UsageFilter = Depends(usage_filter), s: ConsoleState = Depends(console)) -> Response:
    """The same rows as the page, oldest first, as a CSV attachment."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in report(s, chosen):
        counts = (row.requests, row.errors, row.rejected, row.samples)
        writer.writerow((row.day.isoformat(), row.key_id, row.deployment, *counts, f"{row.compute_ms:.3f}"))
    name = f"usage-{chosen.since.isoformat()}" + (f"-{chosen.until.isoformat()}" if chosen.until else "")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
