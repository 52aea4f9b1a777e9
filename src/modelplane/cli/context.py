"""The platform the CLI acts on: the server's client when MODELPLANE_URL is set, else in-process (Local).

Both have one surface, so every verb is written once."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def platform() -> Any:
    if os.environ.get("MODELPLANE_URL"):
        from modelplane.client import Client

        return Client()
    from modelplane.local import Local

    return Local()
