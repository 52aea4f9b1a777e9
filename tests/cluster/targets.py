"""Work the driver tests send to the Ray head (imported there by name, as real targets are)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from modelplane.cluster.driver import Channel
from modelplane.errors import Invalid
from modelplane.store import Store


def count(payload: dict[str, Any], store: Store, channel: Channel) -> dict[str, Any]:
    """Emits one event per number; waits for `gate` (a file) first when given, so a test can re-attach."""
    gate = payload.get("gate")
    while gate and not Path(gate).exists():
        channel.raise_if_cancelled()
        time.sleep(0.05)
    for n in range(1, payload["upto"] + 1):
        channel.emit({"n": n})
    channel.remember("trials", ["t1", "t2"])
    return {"sum": sum(range(1, payload["upto"] + 1)), "home": str(store.runs_dir)}


def refuse(payload: dict[str, Any], store: Store, channel: Channel) -> None:
    raise Invalid("the payload names no data; pass --data NAME@VERSION")


def forever(payload: dict[str, Any], store: Store, channel: Channel) -> None:
    while True:
        channel.raise_if_cancelled()
        time.sleep(0.05)
