"""A store with two small iris classifiers and two deployments, packaged once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.local import Local


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("package-home")
    local = Local(path)
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="mlp", train={"epochs": 3, "seed": 1})  # iris-mlp@1
    local.train(data="iris", model="mlp", train={"epochs": 5, "seed": 2})  # iris-mlp@2
    local.models.alias("iris-mlp@1", "production")
    local.deploy({"model": "iris-mlp@production", "batching": {"max_batch_size": 16}}, name="iris")
    local.deploy({"ensemble": {"members": ["iris-mlp@1", "iris-mlp@2"], "combine": "mean"}}, name="ens")
    local.close()
    yield path


@pytest.fixture(scope="module")
def packages(home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """deployment -> its package directory, written by `Local.package`."""
    out = tmp_path_factory.mktemp("packages")
    local = Local(home)
    try:
        return {name: local.package(name, out / name).directory for name in ("iris", "ens")}
    finally:
        local.close()
