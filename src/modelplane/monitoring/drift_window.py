"""Drift on demand: a deployment's logged rows over a window, one report per version that answered in it
(the main version and a canary are compared with their own training data)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc

from modelplane.errors import NotFound
from modelplane.monitoring.drift import DataQuality, DriftReport, drift_report
from modelplane.monitoring.log_files import read_log
from modelplane.monitoring.profile_store import ensure_profile
from modelplane.monitoring.schema import ANSWERED, STATUS, VERSION, features_of, outputs_of
from modelplane.store import Store

log = logging.getLogger(__name__)


def compute_drift(
    store: Store, home: Path, deployment: str, *, window: timedelta, until: datetime | None = None
) -> list[DriftReport]:
    """Reports for the rows logged in [until - window, until) (until: now), by version ref. A version
    without a profile (an import without --reference) gets a report with rows and a note, no tests."""
    from modelplane.serving.deployments import get_deployment

    spec = get_deployment(store, deployment).spec.monitoring
    until = until or datetime.now(UTC)
    since = until - window
    table = read_log(home, deployment, since=since, until=until)
    if STATUS in table.column_names:
        table = table.filter(pc.equal(table[STATUS], ANSWERED))
    reports = []
    for version in sorted(set(table.column(VERSION).to_pylist())):
        rows = table.filter(pc.equal(table[VERSION], version))
        try:
            profile = ensure_profile(store, version)
        except NotFound:
            profile, note = None, f"{version} is no longer registered; it has no reference to compare with"
        else:
            note = f"{version} has no reference profile (no training data in its lineage)"
        if profile is None:
            reports.append(
                DriftReport(
                    deployment=deployment,
                    version=version,
                    rows=rows.num_rows,
                    reference_rows=0,
                    since=since,
                    until=until,
                    features=[],
                    share_drifted=None,
                    prediction=None,
                    quality=DataQuality(),
                    estimated_accuracy=None,
                    note=note,
                )
            )
            continue
        report = drift_report(profile, features_of(rows), outputs_of(rows), spec)
        reports.append(
            report.model_copy(
                update={"deployment": deployment, "version": version, "since": since, "until": until}
            )
        )
    return reports
