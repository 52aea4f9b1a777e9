"""What routes receive: the platform's state and the caller, checked against the route's one action."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Query, Request

from modelplane.api.gate import PlatformGate
from modelplane.data.uploads import Uploads
from modelplane.security.principal import Principal
from modelplane.security.roles import Action
from modelplane.serving.types import Credentials
from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.serving.deployments import DeploymentSpec


@dataclass
class ControlState:
    """Shared by every request of one control plane."""

    store: Store
    gate: PlatformGate
    uploads: Uploads
    # (name, spec) -> None, or a typed error refusing the deployment: set by `up`, whose data plane may
    # hold a memory budget (serving.residency.Residency.measure)
    admit: Callable[[str, DeploymentSpec], None] | None = None


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


def signed_in() -> Any:
    """A valid key of any role (the API docs): 401 without one, no role check."""

    def caller(request: Request) -> Principal:
        headers = request.headers
        return state(request).gate.principal(
            Credentials(headers.get("authorization"), headers.get("x-api-key"))
        )

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


# Far past any list this platform holds, and far below what the database's 64-bit integers (and offset +
# limit) can take: a larger offset is a 400 that names the range, never an overflow in the query.
MAX_OFFSET = 1_000_000_000
MAX_LIMIT = 1000


def page(
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Items to skip"),
    limit: int = Query(100, ge=1, le=MAX_LIMIT, description="Items to return"),
) -> Page:
    """The paging of every list route: one dependency, so every route has the same bounds."""
    return Page(offset, limit)
