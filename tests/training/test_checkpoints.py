"""CheckpointDir: atomic epoch files, pruning, and loading without unrestricted pickle."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from modelplane.errors import Invalid
from modelplane.training.checkpoints import CheckpointDir


def test_save_and_load_latest(tmp_path: Path) -> None:
    folder = CheckpointDir(tmp_path / "ckpt")
    assert folder.load_latest() is None
    for epoch in (1, 2, 3):
        folder.save(epoch, {"epoch": epoch, "w": torch.full((2,), float(epoch)), "history": [{"loss": 0.5}]})
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["epoch-0002.pt", "epoch-0003.pt"]
    state = folder.load_latest()
    assert state is not None and state["epoch"] == 3 and torch.equal(state["w"], torch.full((2,), 3.0))


def test_latest_is_by_number_not_name(tmp_path: Path) -> None:
    folder = CheckpointDir(tmp_path, keep=3)
    folder.save(9999, {"epoch": 9999})
    folder.save(10000, {"epoch": 10000})
    state = folder.load_latest()
    assert state is not None and state["epoch"] == 10000


def test_failed_save_leaves_no_temp_file_and_keeps_the_previous(tmp_path: Path) -> None:
    folder = CheckpointDir(tmp_path)
    folder.save(1, {"epoch": 1})
    with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
        folder.save(2, {"epoch": 2, "bad": lambda: None})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001.pt"]
    state = folder.load_latest()
    assert state is not None and state["epoch"] == 1


class Payload:
    pass


def test_load_refuses_arbitrary_objects(tmp_path: Path) -> None:
    torch.save({"epoch": 1, "obj": Payload()}, tmp_path / "epoch-0001.pt")
    with pytest.raises(pickle.UnpicklingError):
        CheckpointDir(tmp_path).load_latest()


def test_keep_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="keep"):
        CheckpointDir(tmp_path, keep=0)
