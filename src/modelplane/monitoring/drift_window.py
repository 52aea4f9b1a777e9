"""Drift on demand: a deployment's logged rows over a window, one report per version that answered in it
(the main version and a canary are compared with their own training data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from modelplane.errors import Invalid, NotFound
from modelplane.monitoring.drift import DataQuality, DriftReport, drift_report
from modelplane.monitoring.log_files import read_log
from modelplane.monitoring.profile_store import ensure_profile
from modelplane.monitoring.schema import ANSWERED, STATUS, VERSION, features_of, outputs_of
from modelplane.monitoring.served import Served, served
from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.serving.deployments import DeploymentSpec


def compute_drift(
    store: Store, home: Path, deployment: str, *, window: timedelta, until: datetime | None = None
) -> list[DriftReport]:
    """Reports for the rows logged in [until - window, until) (until: now), by version ref. A version
    without a profile (an import without --reference) gets a report with rows and a note, no tests."""
    from modelplane.serving.deployments import get_deployment

    deployed = get_deployment(store, deployment).spec
    until = until or datetime.now(UTC)
    since = until - window
    table = read_log(home, deployment, since=since, until=until)
    return list(version_reports(store, deployment, deployed, table, since, until).values())


def version_reports(
    store: Store, deployment: str, deployed: DeploymentSpec, table: pa.Table, since: datetime, until: datetime
) -> dict[str, DriftReport]:
    """One report per `version` value of `table` (a window of the log, failed requests included: they
    are left out here), keyed by that value."""
    spec = deployed.monitoring
    if STATUS in table.column_names:
        table = table.filter(pc.equal(table[STATUS], ANSWERED))
    reports = {}
    try:
        serving: Served | None = served(store, deployment)
    except (NotFound, Invalid):  # a version it names was deleted: no reference for any
        serving = None
    for value in sorted(set(table.column(VERSION).to_pylist())):
        rows = table.filter(pc.equal(table[VERSION], value))
        info = serving.version(store, value) if serving is not None else None
        version = info.ref if info is not None else value
        if info is None:
            profile = None
            note = (
                f"no registered model version answered as {value!r} (an ensemble, or deleted): no reference"
            )
        else:
            profile = ensure_profile(store, info.ref)
            note = f"{version} has no reference profile (no training data in its lineage)"
        if profile is None:
            reports[value] = DriftReport(
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
            continue
        report = drift_report(profile, features_of(rows), outputs_of(rows), spec)
        reports[value] = report.model_copy(
            update={"deployment": deployment, "version": version, "since": since, "until": until}
        )
    return reports
