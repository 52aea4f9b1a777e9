"""One Ray Serve replica of a model version: it loads the version from the store (the same files and
database as the server: one machine, or storage every node mounts at the same paths), warms it at the
largest batch, and answers batches.

Errors travel as values, not exceptions: a version that cannot load answers `ready()` with why (the server
then refuses it, typed and in one line, instead of Serve restarting a replica that can never start), and a
batch that fails answers with the error the server raises to that batch's callers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelplane.serving.replicas.worker import error_header, load_version

Answer = tuple[dict[str, Any], dict[str, np.ndarray]]


class ModelReplica:
    """The class `serve.deployment` wraps (the server names it there, so importing this needs no Ray)."""

    def __init__(self, setup: dict[str, Any]) -> None:
        self._runtime: Any = None
        self._failed: dict[str, Any] | None = None
        try:
            self._runtime = load_version(setup)
        except Exception as exc:  # reported by ready(): the server refuses the version with this reason
            self._failed = error_header(exc)

    def ready(self) -> dict[str, Any]:
        """The runtime's platform, or why the version cannot be served."""
        return self._failed or {"platform": self._runtime.platform}

    def __call__(self, x: np.ndarray) -> Answer:
        if self._failed is not None:
            return self._failed, {}
        try:
            return {}, self._runtime.predict(x)
        except Exception as exc:  # this batch's callers get the error; the replica serves on
            return error_header(exc), {}
