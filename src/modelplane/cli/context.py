"""The platform the CLI acts on: in-process (Local) for now; the HTTP client when MODELPLANE_URL is set."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def platform() -> Any:
    from modelplane.local import Local

    return Local()
