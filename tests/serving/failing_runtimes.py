"""Runtimes that fail the ways a new version can, registered by tests (one line in ADAPTERS): `broken`
cannot load its file; `flaky` loads and warms up (on zeros) but fails on every real request."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelplane.runtimes.adapters import LoadOptions, StoredVersion


class FlakyRuntime:
    platform = "flaky"
    input_name = "input"

    def __init__(self) -> None:
        self.output_names = ["label", "probabilities"]

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if np.any(x):
            raise RuntimeError("flaky runtime: this model fails on real data")
        probabilities = np.full((len(x), 3), 1 / 3, dtype=np.float32)
        return {"label": np.zeros(len(x), dtype=np.int64), "probabilities": probabilities}


class _Adapter:
    artifact = "failing"

    def __init__(self, loads: bool) -> None:
        self.loads = loads

    def refusal(self, version: StoredVersion) -> str | None:
        return None

    def make_artifact(self, version: StoredVersion, path: Path) -> None:
        path.write_text("{}")

    def load(self, version: StoredVersion, options: LoadOptions) -> FlakyRuntime:
        if not self.loads:
            raise RuntimeError("corrupt graph: the file does not parse")
        return FlakyRuntime()


BROKEN = _Adapter(loads=False)
FLAKY = _Adapter(loads=True)
