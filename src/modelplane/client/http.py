"""HTTP plumbing of the client: one connection, typed errors from `{"error": ...}` bodies, views from JSON."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from modelplane import errors

T = TypeVar("T")

CHUNK_BYTES = 8 << 20
UPLOAD_WORKERS = 3  # chunks in flight at once: the server hashes one while the next arrives

_ERRORS: dict[int, type[errors.ModelplaneError]] = {
    400: errors.Invalid,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    422: errors.Invalid,
    504: errors.DeadlineExceeded,
}


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def parse(cls: type[T], data: Any) -> T:
    """A view class rebuilt from its `to_dict()` JSON (datetimes and nested views included)."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    found: T = adapter.validate_python(data)
    return found


def error_from(response: httpx.Response) -> errors.ModelplaneError:
    try:
        message = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}: {response.text[:200]}"
    retry_after = float(response.headers.get("retry-after") or 1)
    if response.status_code == 429:
        return errors.QuotaExceeded(message, retry_after)
    if response.status_code == 503:
        return errors.Unavailable(message, retry_after)
    return _ERRORS.get(response.status_code, errors.ModelplaneError)(message)


class Http:
    def __init__(self, url: str, api_key: str | None, timeout: float, verify: bool | str) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, verify=verify)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise errors.Unavailable(
                f"cannot reach modelplane at {self.url} ({exc}); is `modelplane up` running there?"
            ) from None
        if response.status_code >= 400:
            raise error_from(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()

    def items(self, path: str, **params: Any) -> list[Any]:
        """Every item of a paginated list."""
        out: list[Any] = []
        while True:
            page = self.json("GET", path, params={**params, "offset": len(out), "limit": 1000})
            out += page["items"]
            if len(out) >= page["total"] or not page["items"]:
                return out


def quoted(ref: str) -> str:
    return quote(ref, safe="")


class Area:
    def __init__(self, http: Http) -> None:
        self._http = http
