"""The framework and family registries: a new torch family trains, tunes, exports, compresses and serves
with one registration; frameworks are asked by capability, never by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelplane.errors import Invalid
from modelplane.local import Local
from modelplane.models.frameworks import (
    PRUNE,
    QUANTIZE,
    TORCHSCRIPT,
    family,
    framework,
    framework_of,
    frameworks_with,
    model_kinds,
    parse_spec,
    unregister_family,
)
from modelplane.registry.loading import load_runtime
from tests.models import toy_family


@pytest.fixture
def toy() -> Iterator[str]:
    toy_family.register()
    yield toy_family.KIND
    unregister_family(toy_family.KIND)


def test_a_registered_family_trains_exports_and_serves_like_the_zoo(toy: str, tmp_path: Path) -> None:
    platform = Local()
    platform.datasets.add("iris", source="builtin:iris")
    run = platform.train(data="iris", model=toy, spec={"width": 8}, train={"epochs": 3})
    version = platform.models.version(run.model_version)
    assert version.framework == "torch" and version.kind == toy and version.spec["width"] == 8
    assert version.onnx_sha is not None  # exported and verified against the module on the test split
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    served = load_runtime(platform.store, version).predict(x)
    native = load_runtime(platform.store, version, "native").predict(x)
    assert served["label"].tolist() == native["label"].tolist()
    np.testing.assert_allclose(served["probabilities"], native["probabilities"], atol=1e-5)
    # Compression and export reach it through the torch adapter's capabilities.
    pruned = platform.compress(run.model_version, prune=0.5, finetune_epochs=0)
    assert platform.models.version(pruned.version.ref).kind == toy
    files = platform.export(run.model_version, "torchscript", tmp_path)
    assert any(path.suffix == ".pt" for path in files)


def test_a_registered_family_is_tuned_with_its_own_space(toy: str) -> None:
    platform = Local()
    platform.datasets.add("iris", source="builtin:iris")
    study = platform.tune(data="iris", model=toy, trials=2, train={"epochs": 1})
    assert set(study.best_params) == {"width"} and study.model_version is not None


def test_unknown_and_unregistered_kinds_name_the_registered_ones(toy: str) -> None:
    assert toy in model_kinds()
    unregister_family(toy)
    with pytest.raises(Invalid, match=r"unknown kind 'toy_wide'.*mlp"):
        parse_spec({"kind": toy, "task": "classification", "input_shape": [4], "num_outputs": 3})
    toy_family.register()


def test_a_family_refuses_tasks_it_does_not_do() -> None:
    with pytest.raises(Invalid, match="mlp does not do generation"):
        parse_spec({"kind": "mlp", "task": "generation", "input_shape": [4], "num_outputs": 3})
    assert family("logreg").tasks == ("classification",)


def test_frameworks_are_asked_by_capability() -> None:
    assert frameworks_with(QUANTIZE) == frameworks_with(PRUNE) == frameworks_with(TORCHSCRIPT) == ("torch",)
    sklearn = framework("sklearn")
    assert not sklearn.warm_starts and not sklearn.onnx_required and sklearn.weights_format == "skops"
    spec = parse_spec({"kind": "gbdt", "task": "regression", "input_shape": [3], "num_outputs": 1})
    assert framework_of(spec) is sklearn
    with pytest.raises(Invalid, match="unknown framework 'jax'"):
        framework("jax")
