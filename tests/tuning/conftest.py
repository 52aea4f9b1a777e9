"""A platform with iris (150 rows, 4 features), so a study of small trials takes seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from modelplane.local import Local


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread, and far faster than on two contended cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def platform() -> Local:
    local = Local()
    local.datasets.add("iris", source="builtin:iris")
    return local
