"""A store with small trained models, built once per module: iris classifiers and a regressor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelplane.local import Local


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    local = Local(tmp_path_factory.mktemp("serving-home"))
    local.datasets.add("iris", source="builtin:iris")
    local.datasets.add("diabetes", source="builtin:diabetes")
    local.train(data="iris", model="mlp", train={"epochs": 4, "seed": 1})  # iris-mlp@1
    local.train(data="iris", model="mlp", train={"epochs": 6, "seed": 2})  # iris-mlp@2
    local.train(data="iris", model="logreg")  # iris-logreg@1
    local.train(data="diabetes", model="mlp", train={"epochs": 3})  # diabetes-mlp@1
    local.models.alias("iris-mlp@1", "production")
    yield local
    local.close()
