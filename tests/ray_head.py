"""The Ray head the Ray tests run against (see the `ray_address` fixture in tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def ray_head() -> Iterator[str]:
    given = os.environ.get("MODELPLANE_TEST_RAY_ADDRESS")
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Ray is not installed, and CI must run the Ray tests: make install installs it")
        pytest.skip("Ray is not installed (pip install 'modelplane[ray]' to run this test)")
    from modelplane.cluster.local_head import HeadFailed, local_head, wait_for_head

    try:
        if given:
            wait_for_head(given, 5.0)
            yield given
            return
        with local_head() as address:
            yield address
    except HeadFailed as exc:
        pytest.fail(str(exc))
