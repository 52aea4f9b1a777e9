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
from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.serving.deployments import DeploymentSpec


def version_refs(store: Store, spec: DeploymentSpec, logged: list[str]) -> dict[str, str]:
    """The model version ref of each `version` value in the log: serving logs the version's number
    ("3"), matched to the versions the deployment serves now (main, canary, shadow), else to the main
    model's version of that number (the version an alias pointed at before it moved). A ref is kept."""
    from modelplane.serving.deployments import resolve

    try:
        serving = list(resolve(store, spec).versions().values())
    except (NotFound, Invalid):  # a version it names was deleted: fall back on the spec's model name
        serving = []
    main_model = spec.model.partition("@")[0] if spec.model else None
    out = {}
    for value in logged:
        found = next((v.ref for v in serving if str(v.version) == value), None)
        if found is None:
            found = value if "@" in value or main_model is None else f"{main_model}@{value}"
        out[value] = found
    return out


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
    logged = sorted(set(table.column(VERSION).to_pylist()))
    for value, version in version_refs(store, deployed, logged).items():
        rows = table.filter(pc.equal(table[VERSION], value))
        try:
            profile = ensure_profile(store, version)
        except (NotFound, Invalid):
            profile, note = (
                None,
                f"no registered model version is {version!r} (an ensemble, or deleted): no reference",
            )
        else:
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
