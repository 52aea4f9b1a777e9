"""Monitor windows in the store: what each monitor run found for each served version.

They are the history alerts and dashboards read (the log itself may be sampled, rotated or expired), and
what /metrics exports: the newest window of each (deployment, version).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from modelplane.store import Store
from modelplane.store.orm import Deployment, MonitorWindow

KEEP_WINDOWS = 2016  # per deployment: a week of 5-minute windows; older ones are pruned as new ones land


@dataclass(frozen=True)
class WindowInfo:
    deployment: str
    version: str
    window_start: datetime
    window_end: datetime
    computed_at: datetime
    metrics: dict[str, float]
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("window_start", "window_end", "computed_at"):
            out[key] = out[key].isoformat()
        return out


def _info(row: MonitorWindow) -> WindowInfo:
    return WindowInfo(
        deployment=row.deployment,
        version=row.version,
        window_start=row.window_start,
        window_end=row.window_end,
        computed_at=row.computed_at,
        metrics=dict(row.metrics),
        report=dict(row.report),
    )


def save_windows(store: Store, windows: list[WindowInfo]) -> None:
    """Store one run's windows (one per version) and prune the deployment's oldest beyond KEEP_WINDOWS."""
    if not windows:
        return
    with store.db.session() as session:
        for window in windows:
            session.add(
                MonitorWindow(
                    deployment=window.deployment,
                    version=window.version,
                    window_start=window.window_start,
                    window_end=window.window_end,
                    computed_at=window.computed_at,
                    metrics=window.metrics,
                    report=window.report,
                )
            )
        session.flush()
        deployment = windows[0].deployment
        cutoff = session.scalar(
            select(MonitorWindow.id)
            .where(MonitorWindow.deployment == deployment)
            .order_by(MonitorWindow.id.desc())
            .offset(KEEP_WINDOWS)
            .limit(1)
        )
        if cutoff is not None:
            session.execute(
                delete(MonitorWindow).where(
                    MonitorWindow.deployment == deployment, MonitorWindow.id <= cutoff
                )
            )


def list_windows(store: Store, deployment: str, *, limit: int = 50) -> list[WindowInfo]:
    """The deployment's newest windows, newest first."""
    with store.db.session() as session:
        rows = session.scalars(
            select(MonitorWindow)
            .where(MonitorWindow.deployment == deployment)
            .order_by(MonitorWindow.id.desc())
            .limit(limit)
        ).all()
        return [_info(row) for row in rows]


def latest_windows(store: Store) -> list[WindowInfo]:
    """The newest window of every (deployment, version) of a deployment that still exists: what the gauges
    show."""
    with store.db.session() as session:
        newest = (
            select(func.max(MonitorWindow.id))
            .where(MonitorWindow.deployment.in_(select(Deployment.name)))
            .group_by(MonitorWindow.deployment, MonitorWindow.version)
            .scalar_subquery()
        )
        rows = session.scalars(select(MonitorWindow).where(MonitorWindow.id.in_(newest))).all()
        return [_info(row) for row in rows]
