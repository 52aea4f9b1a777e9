"""Persistence: the metadata database and the content-addressed artifact store, opened together."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

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
        # The keys (master key, signing key) are the settings', read when an artifact is written or read. A
        # store opened by paths alone is a home of its own: its signing key sits beside its artifacts folder
        # (as its runs folder does), the master key still comes from the environment.
        if settings is None:
            settings = get_settings().model_copy(update={"home": Path(artifact_root).parent})
        self.settings = settings
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

    def settings_handover(self) -> dict[str, str | None]:
        """The settings as plain values for a process this store hands work to (a job, a tuning worker), so
        it reads the same keys; sent over a pipe, never written (the master key included)."""
        return {name: _plain(value) for name, value in self.settings}

    def handover(self) -> dict[str, Any]:
        """What another process needs to open this same store (`from_handover`): paths and settings."""
        return {
            "database_url": self.db.url,
            "artifact_root": str(self.artifacts.root),
            "runs_dir": str(self.runs_dir),
            "settings": self.settings_handover(),
        }

    @classmethod
    def from_handover(cls, handover: Mapping[str, Any]) -> Store:
        return cls(
            handover["database_url"],
            Path(handover["artifact_root"]),
            Path(handover["runs_dir"]),
            settings=Settings.model_validate(handover["settings"]),
        )

    def close(self) -> None:
        self.db.close()


def _plain(value: object) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


__all__ = ["ArtifactStore", "Database", "Store"]
