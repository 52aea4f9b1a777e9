"""A toy runtime, registered by tests the way a real one is (one line in ADAPTERS): it proves that a new
runtime is this one module. It "serves" a classifier by a softmax over the first features of each row, from
a small JSON file it makes once per version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from modelplane.runtimes.adapters import LoadOptions, StoredVersion
from modelplane.runtimes.base import INPUT_NAME, OUTPUT_NAMES, as_float32

TOY_FORMAT = "toy"


class ToyRuntime:
    platform = "toy_softmax"

    def __init__(self, path: Path) -> None:
        self.classes = int(json.loads(path.read_text())["classes"])
        self.input_name = INPUT_NAME
        self.output_names = list(OUTPUT_NAMES["classification"])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        scores = as_float32(x)[:, : self.classes]
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        probabilities = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
        return {"label": probabilities.argmax(axis=1).astype(np.int64), "probabilities": probabilities}


class ToyAdapter:
    artifact = TOY_FORMAT

    def refusal(self, version: StoredVersion) -> str | None:
        return None if version.task == "classification" else f"{version.ref} is not a classifier"

    def make_artifact(self, version: StoredVersion, path: Path) -> None:
        path.write_text(json.dumps({"classes": 3}))

    def load(self, version: StoredVersion, options: LoadOptions) -> ToyRuntime:
        return ToyRuntime(version.artifact_path(TOY_FORMAT))


ADAPTER = ToyAdapter()
