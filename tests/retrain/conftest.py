"""A small world to retrain in: digits as CSV (1,000 rows, then 200 more to append), a small mlp trained on
the first version, promoted to production and deployed. It is built once per session and copied into each
test's MODELPLANE_HOME, so a test starts from it in milliseconds rather than seconds."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from modelplane.data.ingest import IngestOptions, add_dataset
from modelplane.registry.registry import set_alias
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.store import Store
from modelplane.training.runs import parse_run_config, start_run

BASE_ROWS, NEW_ROWS = 1000, 200
MODEL = "digits-mlp"
MLP = f"{MODEL}@1"


def write_csv(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    header = ",".join(f"p{i}" for i in range(x.shape[1])) + ",label"
    lines = [header] + [
        ",".join(f"{v:g}" for v in row) + f",{label}" for row, label in zip(x, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def train(store: Store, model: str = "mlp", **fields: object) -> str:
    """Train on the latest digits, promote to production, deploy; returns the version's ref."""
    config = {"data": "digits", "model": model, **fields}
    run = start_run(store, parse_run_config(config), by="test")
    assert run.model_version is not None
    set_alias(store, run.model_version, "production", by="test")
    name = run.model_version.partition("@")[0]
    save_deployment(store, parse_spec({"model": f"{name}@production"}), by="test")
    return run.model_version


@dataclass(frozen=True)
class Files:
    base: Path  # digits@1
    more: Path  # the rows to append: digits@2
    home: Path  # a home holding digits@1 and digits-mlp@1 (production, deployed)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """These models are tiny: one thread trains them fastest, and on a shared machine a second one only
    spins waiting for a busy core (a 0.2 s fit takes seconds)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("retrain-files")
    x, y = load_digits(return_X_y=True)
    end = BASE_ROWS + NEW_ROWS
    base = write_csv(folder / "base.csv", x[:BASE_ROWS], y[:BASE_ROWS])
    more = write_csv(folder / "more.csv", x[BASE_ROWS:end], y[BASE_ROWS:end])
    home = folder / "home"
    store = Store(f"sqlite:///{home / 'modelplane.db'}", home / "artifacts", home / "runs")
    try:
        add_dataset(store, "digits", str(base), IngestOptions(target="label"), by="test")
        assert train(store, spec={"hidden": [32]}, train={"epochs": 8}) == MLP
    finally:
        store.close()
    return Files(base, more, home)


@pytest.fixture
def store(files: Files, isolated_home: Path) -> Iterator[Store]:
    """The store of this test's home, a copy of the session's world."""
    shutil.copytree(files.home, isolated_home)
    opened = Store.from_settings()
    yield opened
    opened.close()


@dataclass
class World:
    store: Store
    files: Files

    @property
    def base(self) -> Path:
        return self.files.base

    @property
    def more(self) -> Path:
        return self.files.more

    def append(self) -> None:
        add_dataset(
            self.store, "digits", str(self.more), IngestOptions(target="label", append=True), by="test"
        )


@pytest.fixture
def world(store: Store, files: Files) -> World:
    return World(store, files)
