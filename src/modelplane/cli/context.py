"""The platform the CLI acts on: the server's client when MODELPLANE_URL is set, else in-process (Local).

Both implement `Platform`, so every verb is written once; mypy checks each of them against it here."""

from __future__ import annotations

import os
from functools import lru_cache

from modelplane.platform import Platform


@lru_cache(maxsize=1)
def platform() -> Platform:
    if os.environ.get("MODELPLANE_URL"):
        from modelplane.client import Client

        return Client()
    from modelplane.local import Local

    return Local()
