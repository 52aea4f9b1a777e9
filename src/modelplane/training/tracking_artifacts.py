"""Files tracked runs log, by artifact path, stored content-addressed (registry/artifacts.put: sealed where a
master key is set). Paths follow MLflow's proxy layout so its client and `runs.start` share one tree:
`<experiment>/<run>/artifacts/<file>` for a run, `<experiment>/models/<model>/artifacts/<file>` for an
MLflow logged model."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from modelplane.errors import Invalid, NotFound
from modelplane.registry.artifacts import Source, put, read_artifact
from modelplane.store import Store
from modelplane.store.orm import Artifact, LoggedModel, Run, RunArtifact


@dataclass(frozen=True)
class FileEntry:
    """One entry of a listing: a file with its size, or a folder."""

    path: str
    is_dir: bool
    size: int | None = None


def run_root(run: Run) -> str:
    return f"{run.experiment_id or 0}/{run.id}/artifacts"


def model_root(model: LoggedModel) -> str:
    return f"{model.experiment_id}/models/{model.id}/artifacts"


def clean_path(path: str) -> str:
    """A relative POSIX path without `..`, `.` or empty parts: nothing can climb out of its root."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or len(path) > 1000:
        raise Invalid(
            f"artifact path {path!r} is not a relative path inside the run; name a file like 'plots/a.png'"
        )
    return "/".join(parts)


def owner_of(store: Store, path: str) -> str | None:
    """The run an artifact path belongs to (a run's own tree, or a logged model its run produced)."""
    parts = path.split("/")
    if len(parts) < 3:
        raise Invalid(f"artifact path {path!r} is outside any run; log artifacts through a run")
    with store.db.session() as session:
        if parts[1] == "models":
            model = session.get(LoggedModel, parts[2])
            if model is None:
                raise NotFound(f"logged model {parts[2]} not found; create it by logging a model in a run")
            return model.run_id
        run = session.get(Run, parts[1])
        if run is None:
            raise NotFound(f"run {parts[1]} not found; start a run before logging artifacts to it")
        return run.id


def put_file(store: Store, path: str, source: Source) -> RunArtifact:
    """Store `source` at `path` (replacing what was there): blob first, then the row that points at it."""
    path = clean_path(path)
    run_id = owner_of(store, path)
    stored = put(store, source)
    with store.db.session() as session:
        if session.get(Artifact, stored.sha256) is None:
            session.add(
                Artifact(
                    sha256=stored.sha256,
                    size=stored.size,
                    key_id=stored.key_id,
                    wrapped_key=stored.wrapped_key,
                    blob=stored.blob,
                )
            )
            session.flush()
        session.execute(delete(RunArtifact).where(RunArtifact.path == path))
        row = RunArtifact(path=path, run_id=run_id, sha256=stored.sha256, size=stored.size)
        session.add(row)
        session.flush()
        session.expunge(row)
        return row


def read_file(store: Store, path: str) -> bytes:
    path = clean_path(path)
    with store.db.session() as session:
        sha = session.scalar(select(RunArtifact.sha256).where(RunArtifact.path == path))
    if sha is None:
        raise NotFound(f"artifact {path!r} not found; list the run's artifacts to see what it logged")
    return read_artifact(store, sha)


def list_files(store: Store, prefix: str) -> list[FileEntry]:
    """The direct children of folder `prefix`: files with sizes, and folders."""
    prefix = clean_path(prefix)
    with store.db.session() as session:
        rows = session.execute(
            select(RunArtifact.path, RunArtifact.size).where(RunArtifact.path.startswith(prefix + "/"))
        ).all()
    entries: dict[str, FileEntry] = {}
    for path, size in rows:
        rest = path[len(prefix) + 1 :]
        head, _, tail = rest.partition("/")
        entries[head] = FileEntry(head, True) if tail else FileEntry(head, False, size)
    return [entries[name] for name in sorted(entries)]


def files_under(store: Store, prefix: str) -> list[tuple[str, str]]:
    """(path relative to `prefix`, sha256) of every file below it."""
    prefix = clean_path(prefix)
    with store.db.session() as session:
        rows = session.execute(
            select(RunArtifact.path, RunArtifact.sha256).where(RunArtifact.path.startswith(prefix + "/"))
        ).all()
    return [(path[len(prefix) + 1 :], sha) for path, sha in rows]


def materialise(store: Store, prefix: str, dest: Path) -> Path:
    """Write the folder `prefix` under `dest` (verified bytes); NotFound when it holds nothing."""
    files = files_under(store, prefix)
    if not files:
        raise NotFound(f"no artifacts under {prefix!r}; log the model's files in the run first")
    for relative, sha in files:
        target = dest.joinpath(*relative.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read_artifact(store, sha))
    return dest


def relative_to_run(run: Run, path: str) -> str:
    return posixpath.relpath(path, run_root(run))
