"""Persistence: the metadata database and the content-addressed artifact store, opened together."""

from __future__ import annotations

from pathlib import Path

from modelplane.config import Settings, get_settings
from modelplane.store.artifacts import ArtifactStore
from modelplane.store.db import Database


class Store:
    """The one handle every domain area receives: `db` for rows, `artifacts` for bytes."""

    def __init__(
        self,
        database_url: str,
        artifact_root: Path,
        runs_dir: Path | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        # The keys (master key, signing key) are the settings', read when an artifact is written or read.
        self.settings = settings or get_settings()
        self.db = Database(database_url)
        self.artifacts = ArtifactStore(artifact_root)
        self.runs_dir = runs_dir or Path(artifact_root).parent / "runs"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Store:
        settings = settings or get_settings()
        return cls(
            settings.resolved_database_url,
            settings.resolved_artifact_root,
            settings.runs_dir,
            settings=settings,
        )

    def close(self) -> None:
        self.db.close()


__all__ = ["ArtifactStore", "Database", "Store"]
