"""The HTTP side of Triton's model repository, configuration and statistics extensions.

Routes (what `tritonclient.http` calls): `POST /v2/repository/index` (body `{"ready": bool}`, optional),
`POST /v2/repository/models/{m}/load` and `.../unload` (body `{"parameters": {...}}`, optional),
`GET /v2/models/{m}[/versions/{v}]/config` and `GET /v2/models[/{m}[/versions/{v}]]/stats`. Looking needs
a key that may read deployments, loading and unloading one that may deploy (developer or admin); a
consumer key gets 403. The mapping onto deployments is `serving.repository`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from modelplane.errors import Invalid, NotFound
from modelplane.serving.rest_v2 import loads
from modelplane.serving.types import Credentials, Gate, ModelRepository

if TYPE_CHECKING:
    from modelplane.security.roles import Action

CONTROL_POSTS = {"repository_index": "POST", "load": "POST", "unload": "POST"}
READS = frozenset(("config", "stats"))
_PREFIX = "/v2/repository/models/"
_EMPTY = b"{}"
_NEEDS: dict[str, Action] = {
    "repository_index": "deployments:read",
    "config": "deployments:read",
    "stats": "deployments:read",
    "load": "deploy",
    "unload": "deploy",
}
MAX_BODY = 1 << 20  # load/unload/index bodies are a few parameters


def repository_route(path: str) -> tuple[str, str, None] | None:
    """(action, model, None) for `/v2/repository/models/{m}/load|unload`, else None."""
    if not path.startswith(_PREFIX):
        return None
    parts = path[len(_PREFIX) :].split("/")
    if len(parts) == 2 and parts[0] and parts[1] in ("load", "unload"):
        return parts[1], parts[0], None
    return None


async def answer(
    repository: ModelRepository | None,
    gate: Gate | None,
    credentials: Credentials,
    action: str,
    model: str,
    version: str | None,
    body: bytes | bytearray,
) -> bytes:
    """The JSON body of a successful answer; failures raise typed errors (the caller maps them)."""
    by = "anonymous"
    if gate is not None:
        by = gate.authorize(credentials, _NEEDS[action]).actor
    if repository is None:
        raise NotFound("this server does not implement the model repository extension")
    if action == "config":
        return orjson.dumps(repository.config(model, version))
    if action == "stats":
        return orjson.dumps(repository.statistics(model, version))
    request = loads(body) if body.strip() else {}
    if action == "repository_index":
        ready = request.get("ready", False)
        if not isinstance(ready, bool):
            raise Invalid(f"'ready' must be true or false, got {ready!r}")
        sizes = request.get("sizes", False)  # modelplane's extension: loaded or not, resident bytes
        if not isinstance(sizes, bool):
            raise Invalid(f"'sizes' must be true or false, got {sizes!r}")
        return orjson.dumps(await repository.index(ready, sizes))
    parameters = _parameters(request.get("parameters"))
    if action == "load":
        await repository.load(model, parameters, by)
    else:
        await repository.unload(model, parameters, by)
    return _EMPTY


def _parameters(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("'parameters' must be a JSON object")
    return value
