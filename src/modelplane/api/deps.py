"""What routes receive: the platform's state and the caller, checked against the route's one action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Query, Request

from modelplane.api.gate import PlatformGate
from modelplane.data.uploads import Uploads
from modelplane.security.principal import Principal
from modelplane.security.roles import Action
from modelplane.serving.types import Credentials
from modelplane.store import Store


@dataclass
class ControlState:
    """Shared by every request of one control plane."""

    store: Store
    gate: PlatformGate
    uploads: Uploads


def state(request: Request) -> ControlState:
    found: ControlState = request.app.state.control
    return found


def require(action: Action) -> Any:
    """`caller: Principal = require("data:write")`: 401 without a valid key, 403 outside the role."""

    def caller(request: Request) -> Principal:
        headers = request.headers
        credentials = Credentials(headers.get("authorization"), headers.get("x-api-key"))
        return state(request).gate.authorize(credentials, action)

    caller.action = action  # type: ignore[attr-defined]  # read by the test that walks every route
    return Depends(caller)


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int

    def of(self, items: list[Any]) -> dict[str, Any]:
        window = items[self.offset : self.offset + self.limit]
        return {
            "items": [item.to_dict() for item in window],
            "total": len(items),
            "offset": self.offset,
            "limit": self.limit,
        }


def page(
    offset: int = Query(0, ge=0, description="Items to skip"),
    limit: int = Query(100, ge=1, le=1000, description="Items to return"),
) -> Page:
    return Page(offset, limit)
