"""Settings read from the environment (MODELPLANE_*), so one process and its workers agree on paths."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where state lives. Everything defaults under `home` so one directory is one platform."""

    model_config = SettingsConfigDict(env_prefix="MODELPLANE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".modelplane")
    database_url: str | None = None
    artifact_root: Path | None = None
    # Envelope encryption of model artifacts (security/master_key.py): base64 of 32 bytes, or a file of it.
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    # The Ed25519 key that signs version manifests (security/signing.py); default home/signing.key.
    signing_key_file: Path | None = None
    # Where jobs (training, tuning, batch prediction) run: "embedded" in worker processes on this machine, or
    # "ray" on the Ray cluster at ray_address ("auto": the head `ray start` left on this machine). Setting
    # MODELPLANE_RAY_ADDRESS alone chooses ray (modelplane/cluster/connect.py).
    backend: Literal["embedded", "ray"] = "embedded"
    ray_address: str | None = None

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'modelplane.db'}"

    @property
    def resolved_artifact_root(self) -> Path:
        return self.artifact_root or self.home / "artifacts"

    @property
    def resolved_signing_key_file(self) -> Path:
        return self.signing_key_file or self.home / "signing.key"

    @property
    def runs_dir(self) -> Path:
        """Per-run scratch space (checkpoints); not content-addressed, safe to prune after a run ends."""
        return self.home / "runs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
