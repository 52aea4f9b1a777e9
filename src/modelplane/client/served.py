"""What a data plane serves now, per deployment: loaded or not, and its measured resident size.

The store says what is deployed; only a running server knows what it holds in memory (a memory budget
unloads idle deployments and loads them again on their next request). This asks a server's repository
index (`POST /v2/repository/index` with modelplane's `"sizes": true`), for `deployments list`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import httpx

from modelplane import errors
from modelplane.client.http import error_from

LOADED, BUDGET, UNAVAILABLE, LOADING = "loaded", "unloaded (budget)", "unavailable", "loading"


@dataclass(frozen=True)
class Served:
    state: str  # LOADED, BUDGET (its next request loads it), UNAVAILABLE (see reason) or LOADING
    resident_bytes: int | None  # measured while loaded (or when the budget unloaded it); None: never
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def served(
    url: str, api_key: str | None, *, timeout: float = 10.0, verify: bool | str = True
) -> dict[str, Served]:
    """Each deployment the server at `url` knows, by name; Unavailable when it cannot be reached."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/v2/repository/index",
            json={"sizes": True},
            headers=headers,
            timeout=timeout,
            verify=verify,
        )
    except httpx.TransportError as exc:
        raise errors.Unavailable(f"cannot reach the server at {url} ({exc}); is it running?") from None
    if response.status_code >= 400:
        raise error_from(response)
    found: dict[str, Served] = {}
    for entry in response.json():
        if entry["name"] not in found:  # one entry per version served; they share the deployment's state
            found[entry["name"]] = Served(_state(entry), entry.get("resident_bytes"), entry["reason"])
    return found


def _state(entry: dict[str, Any]) -> str:
    if entry.get("loaded"):
        return LOADED
    if entry["state"] == "READY":  # answers, but not in memory: the budget unloaded it
        return BUDGET
    return UNAVAILABLE if entry["state"] == "UNAVAILABLE" else LOADING
