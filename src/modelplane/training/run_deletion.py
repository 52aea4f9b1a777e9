"""Deleting a training run: its row, per-epoch metrics and checkpoints (runs/<id>/ on disk).

Refused while a live registered version came from it (its lineage would dangle: delete the version first)
or a queued or running job trains it. Retired versions that came from it lose the link. The checkpoint
folder goes after the rows are committed, so a crash in between leaves only a folder `gc` no longer
needs (an orphan under runs/, removed by a later delete of the same id or by hand).
"""

from __future__ import annotations

import shutil

from sqlalchemy import select, update

from modelplane.errors import Conflict
from modelplane.jobs.views import QUEUED, RUNNING
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import Job, ModelVersion
from modelplane.training.run_catalog import find_run_row


def delete_run(store: Store, run_id: str, *, by: str = "") -> str:
    """Delete run `run_id` (or a unique prefix); returns its full id."""
    with store.db.session() as session:
        row = find_run_row(session, run_id)
        live = session.scalars(
            select(ModelVersion).where(ModelVersion.run_id == row.id, ModelVersion.deleted_at.is_(None))
        ).all()
        holds = [
            f"version {v.model.name}@{v.version} came from it (delete it first: "
            f"`modelplane models delete {v.model.name}@{v.version}`)"
            for v in live
        ]
        jobs = session.scalars(select(Job).where(Job.kind == "train", Job.state.in_((QUEUED, RUNNING)))).all()
        holds += [
            f"{j.state} job {j.id} trains it (wait for it or cancel it: `modelplane jobs cancel {j.id}`)"
            for j in jobs
            if j.params.get("run_id") == row.id
        ]
        if holds:
            raise Conflict(f"run {row.id} is still in use — {'; '.join(holds)}")
        session.execute(update(ModelVersion).where(ModelVersion.run_id == row.id).values(run_id=None))
        audit.append(session, by, "run.deleted", row.id, {"model": row.model_name, "status": row.status})
        full_id = row.id
        session.delete(row)  # its metrics go with it (cascade)
    shutil.rmtree(store.runs_dir / full_id, ignore_errors=True)
    return full_id
