"""Garbage collection: remove the files no live row needs, and say how many bytes each kind freed.

- artifacts: content-addressed blobs no live model version and no dataset version references (retired
  versions' files count as unreferenced; their `artifacts` rows go too);
- temp: writers' temp files under the artifact store's tmp/ left by a crash;
- uploads: chunked uploads untouched for `upload_retention_s`;
- job outputs: the folders of jobs that finished more than `job_retention_s` ago (batch outputs, parts);
- checkpoints: the trial checkpoints of studies no longer searched, and the folders of deleted runs.
Retention policies (registry/retention.py) are applied first, so the versions they retire are collected
in the same pass.

Safety against a concurrent registration: a writer stores a blob (or finds it stored) BEFORE the row
that points at it commits. Rather than make every writer take a lock gc also takes, gc leaves anything
younger than `grace_s` (default an hour) alone, and a writer that reuses a stored blob marks it fresh
(`ArtifactStore.touch`, its mtime). To close the window between gc's check and its unlink, gc first
renames the blob out of the way and looks at its mtime again: a writer that touched it before the rename
is seen (the blob is put back); one that tries after finds it missing and stores it again.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import delete, select

from modelplane.jobs.views import FINISHED
from modelplane.registry.gc_report import GcCategory, GcReport
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import (
    Artifact,
    DatasetVersion,
    Job,
    ModelVersion,
    ModelVersionArtifact,
    Run,
    RunArtifact,
)

GRACE_S = 3600.0
UPLOAD_RETENTION_S = 86_400.0
JOB_RETENTION_S = 7 * 86_400.0


@dataclass
class _Found:
    paths: list[tuple[Path, int]] = field(default_factory=list)

    def add(self, path: Path, size: int) -> None:
        self.paths.append((path, size))

    def category(self, name: str) -> GcCategory:
        return GcCategory(name, len(self.paths), sum(size for _, size in self.paths))


def _tree_size(path: Path) -> tuple[int, float]:
    """Bytes under `path` and the newest mtime in it (a folder written into recently is in use)."""
    total, newest = 0, path.stat().st_mtime
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.stat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            total += st.st_size
            newest = max(newest, st.st_mtime)
    return total, newest


def _blobs(root: Path) -> Iterator[os.DirEntry[str]]:
    """Every blob under root/ab/cdef... (tmp/ and anything not named like a hash left out)."""
    with os.scandir(root) as top:
        for prefix in top:
            if len(prefix.name) != 2 or not prefix.is_dir(follow_symlinks=False):
                continue
            with os.scandir(prefix.path) as inner:
                for entry in inner:
                    if len(entry.name) == 62 and entry.is_file(follow_symlinks=False):
                        yield entry


def _referenced(store: Store) -> tuple[set[str], set[str]]:
    """(artifact sha256s live rows reference: versions, datasets, tracked runs' files; the on-disk names
    of those artifacts' blobs)."""
    with store.db.session() as session:
        shas = set(
            session.scalars(
                select(ModelVersionArtifact.sha256)
                .join(ModelVersion, ModelVersion.id == ModelVersionArtifact.version_id)
                .where(ModelVersion.deleted_at.is_(None))
            )
        )
        for features, target in session.execute(
            select(DatasetVersion.features_sha, DatasetVersion.target_sha)
        ):
            shas.add(features)
            if target:
                shas.add(target)
        shas.update(session.scalars(select(RunArtifact.sha256)))  # files tracked runs logged
        sealed = {
            sha: blob
            for sha, blob in session.execute(
                select(Artifact.sha256, Artifact.blob).where(Artifact.blob.is_not(None))
            )
        }
    return shas, {sealed.get(sha) or sha for sha in shas}


def _artifacts(store: Store, cutoff: float, *, dry_run: bool) -> GcCategory:
    keep_shas, keep_files = _referenced(store)
    found = _Found()
    for entry in _blobs(store.artifacts.root):
        sha = os.path.basename(os.path.dirname(entry.path)) + entry.name
        if sha in keep_files:
            continue
        st = entry.stat(follow_symlinks=False)
        if st.st_mtime < cutoff:
            found.add(Path(entry.path), st.st_size)
    if dry_run:
        return found.category("artifacts")
    gone = {p.parent.name + p.name for p, _ in found.paths}
    with store.db.session() as session:
        # Rows of retired versions' files, then the artifacts no live row references whose file goes now
        # (or is gone already): a row younger than the grace period belongs to a writer mid-registration.
        retired = select(ModelVersion.id).where(ModelVersion.deleted_at.is_not(None))
        session.execute(delete(ModelVersionArtifact).where(ModelVersionArtifact.version_id.in_(retired)))
        rows = session.execute(select(Artifact.sha256, Artifact.blob, Artifact.created_at)).all()
        oldest = datetime.fromtimestamp(cutoff, timezone.utc)
        drop = [
            sha
            for sha, blob, created in rows
            if sha not in keep_shas
            and ((blob or sha) in gone or not store.artifacts.exists(blob or sha))
            and _aware(created) < oldest
        ]
        for start in range(0, len(drop), 500):
            session.execute(delete(Artifact).where(Artifact.sha256.in_(drop[start : start + 500])))
    freed = _Found()
    trash = store.artifacts.tmp_dir
    for path, size in found.paths:
        parked = trash / f"gc-{path.parent.name}{path.name}"
        try:
            os.replace(path, parked)
        except FileNotFoundError:
            continue
        if parked.stat().st_mtime >= cutoff:  # a writer reused it after we looked: it stays
            os.replace(parked, path)
            continue
        parked.unlink()
        freed.add(path, size)
    return freed.category("artifacts")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _remove(found: _Found, name: str, *, dry_run: bool) -> GcCategory:
    if not dry_run:
        for path, _size in found.paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return found.category(name)


def _temp(store: Store, cutoff: float) -> _Found:
    found = _Found()
    for entry in os.scandir(store.artifacts.tmp_dir):
        st = entry.stat(follow_symlinks=False)
        if entry.is_file(follow_symlinks=False) and st.st_mtime < cutoff:
            found.add(Path(entry.path), st.st_size)
    return found


def _old_folders(root: Path, cutoff: float, wanted: set[str] | None = None) -> _Found:
    """Folders under `root` (only those named in `wanted`, if given) with nothing newer than `cutoff`."""
    found = _Found()
    if not root.is_dir():
        return found
    for entry in os.scandir(root):
        if not entry.is_dir(follow_symlinks=False) or (wanted is not None and entry.name not in wanted):
            continue
        size, newest = _tree_size(Path(entry.path))
        if newest < cutoff:
            found.add(Path(entry.path), size)
    return found


def _job_outputs(store: Store, retention_s: float, cutoff: float) -> _Found:
    """Folders of jobs finished more than `retention_s` ago, and of jobs whose rows are gone (past the
    grace period: a batch's folder is made just before its job is queued)."""
    root = store.runs_dir.parent / "jobs"
    if not root.is_dir():
        return _Found()
    names = os.listdir(root)
    before = datetime.now(timezone.utc) - timedelta(seconds=retention_s)
    with store.db.session() as session:
        jobs = {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(names)))}
    wanted = {
        name
        for name in names
        if (job := jobs.get(name)) is None
        or (job.state in FINISHED and _aware(job.finished_at or job.updated_at) < before)
    }
    return _old_folders(root, cutoff, wanted)


def _checkpoints(store: Store, cutoff: float) -> _Found:
    """Folders of deleted runs, and the trial checkpoints of studies no longer searched (each counted once:
    a trial's run may be deleted already)."""
    from modelplane.tuning.deletion import finished_trial_checkpoints  # optuna: only for gc

    found = _Found()
    if store.runs_dir.is_dir():
        names = os.listdir(store.runs_dir)
        with store.db.session() as session:
            known = set(session.scalars(select(Run.id).where(Run.id.in_(names))))
        found = _old_folders(store.runs_dir, cutoff, set(names) - known)
    orphans = {path for path, _size in found.paths}
    for folder in finished_trial_checkpoints(store):
        if folder.parent in orphans:
            continue
        size, newest = _tree_size(folder)
        if newest < cutoff:
            found.add(folder, size)
    return found


def collect(
    store: Store,
    *,
    dry_run: bool = False,
    grace_s: float = GRACE_S,
    upload_retention_s: float = UPLOAD_RETENTION_S,
    job_retention_s: float = JOB_RETENTION_S,
    by: str = "",
) -> GcReport:
    """One gc pass over the store; `dry_run` reports what would go and changes nothing."""
    from modelplane.registry.retention import apply_all

    started = time.perf_counter()
    retired = [] if dry_run else apply_all(store, by=by)
    cutoff = time.time() - grace_s
    categories = [
        _artifacts(store, cutoff, dry_run=dry_run),
        _remove(_temp(store, cutoff), "temp", dry_run=dry_run),
        _remove(
            _old_folders(store.settings.home / "uploads", time.time() - upload_retention_s),
            "uploads",
            dry_run=dry_run,
        ),
        _remove(_job_outputs(store, job_retention_s, cutoff), "job outputs", dry_run=dry_run),
        _remove(_checkpoints(store, cutoff), "checkpoints", dry_run=dry_run),
    ]
    report = GcReport(dry_run, categories, retired, time.perf_counter() - started)
    if not dry_run:
        with store.db.session() as session:
            audit.append(
                session,
                by,
                "gc",
                "store",
                {c.name: c.bytes for c in categories} | {"retired": retired},
            )
    return report
