"""One small platform for the whole folder: digits, and an mlp, a cnn and a forest trained on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from modelplane.cli.context import platform
from modelplane.config import get_settings
from modelplane.local import Local


@dataclass(frozen=True)
class Zoo:
    home: Path
    local: Local
    mlp: str
    cnn: str
    forest: str


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    # These networks are tiny: on a shared 2-core machine a second torch thread only adds contention
    # (a training step of the cnn below takes ~6x longer with 2 threads than with 1 there).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    home = tmp_path_factory.mktemp("compression-home")
    local = Local(home=home)
    local.datasets.add("digits", source="builtin:digits")
    mlp = local.train(data="digits", model="mlp", spec={"hidden": [32]}, train={"epochs": 2})
    cnn = local.train(
        data="digits", model="cnn", spec={"channels": [4, 8], "dense": [16]}, train={"epochs": 1}
    )
    forest = local.train(data="digits", model="random_forest", spec={"n_estimators": 3, "max_depth": 4})
    yield Zoo(home, local, mlp.model_version, cnn.model_version, forest.model_version)
    local.close()
    torch.set_num_threads(threads)


@pytest.fixture
def cli_home(zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the CLI's platform at the zoo (the root conftest gives every test an empty home)."""
    monkeypatch.setenv("MODELPLANE_HOME", str(zoo.home))
    get_settings.cache_clear()
    platform.cache_clear()
    return zoo.home
