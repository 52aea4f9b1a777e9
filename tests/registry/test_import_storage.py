"""How an imported graph reaches the artifact store: linked in from the import's scratch folder (no second
copy), or sealed under a master key like any other file; either way it loads and leaves no scratch behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelplane.registry.imports import import_model
from modelplane.registry.loading import load_runtime
from modelplane.store import Store
from modelplane.store.orm import Artifact
from tests.registry.import_files import expected_logits, linear_onnx
from tests.security.crypto_helpers import new_key, use_master_key

X = np.random.default_rng(5).normal(size=(3, 4)).astype(np.float32)


def _row(store: Store, sha: str) -> Artifact:
    with store.db.session() as session:
        return session.get_one(Artifact, sha)


def test_the_contract_graph_is_stored_once_and_scratch_is_gone(store: Store, tmp_path: Path) -> None:
    info = import_model(store, "reg", linear_onnx(tmp_path / "r.onnx"))
    blob = store.artifacts.verified_path(info.weights_sha)
    assert blob.stat().st_nlink == 1  # the scratch name it was linked from went with the scratch folder
    assert list(store.artifacts.tmp_dir.iterdir()) == []
    assert _row(store, info.weights_sha).key_id is None
    predicted = load_runtime(store, info).predict(X)["prediction"]
    np.testing.assert_allclose(predicted, expected_logits(X), atol=1e-5)


def test_under_a_master_key_the_graph_is_sealed_not_linked(store: Store, tmp_path: Path) -> None:
    use_master_key(store, new_key())
    info = import_model(store, "reg", linear_onnx(tmp_path / "r.onnx"))
    row = _row(store, info.weights_sha)
    assert row.key_id is not None and row.blob is not None and row.blob != info.weights_sha
    assert not store.artifacts.exists(info.weights_sha)  # no plaintext blob under the graph's own hash
    assert list(store.artifacts.tmp_dir.iterdir()) == []
    predicted = load_runtime(store, info).predict(X)["prediction"]
    np.testing.assert_allclose(predicted, expected_logits(X), atol=1e-5)
