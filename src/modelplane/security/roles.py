"""The permission model: every route maps to one action; each role is an explicit set of actions."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Literal, get_args

from modelplane.errors import Forbidden, Invalid

if TYPE_CHECKING:
    from modelplane.security.principal import Principal

Action = Literal[
    "data:read",
    "data:write",
    "train",
    "models:read",
    "models:write",
    "deployments:read",
    "deploy",
    "predict",
    "usage:read",
    "audit:read",
    "keys:admin",
    "jobs:read",
    "jobs:cancel",
    "batch",
    "retrain",
    "webhooks:admin",
    "events:read",
    "maintenance:admin",
]
ACTIONS: tuple[Action, ...] = get_args(Action)
_KNOWN = frozenset(ACTIONS)


class Role(str, Enum):
    ADMIN = "admin"
    DEVELOPER = "developer"
    CONSUMER = "consumer"


_DEVELOPER: frozenset[Action] = frozenset(
    (
        "data:read",
        "data:write",
        "train",
        "models:read",
        "models:write",
        "deployments:read",
        "deploy",
        "predict",
        "usage:read",
        "jobs:read",
        "jobs:cancel",
        "batch",
        "retrain",
        "events:read",
    )
)

PERMISSIONS: Mapping[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(ACTIONS),
    Role.DEVELOPER: _DEVELOPER,
    Role.CONSUMER: frozenset(("predict", "events:read")),
}


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise Invalid(f"unknown role {text!r}; use one of {known}") from None


def roles_allowing(action: Action) -> list[Role]:
    return [role for role, actions in PERMISSIONS.items() if action in actions]


def authorize(principal: Principal, action: Action, deployment: str | None = None) -> None:
    """Raise Forbidden unless `principal` may do `action` (on `deployment`, for a key scoped to some)."""
    if action not in _KNOWN:
        raise ValueError(f"unknown action {action!r}; the actions are {', '.join(ACTIONS)}")
    if action not in PERMISSIONS[principal.role]:
        allowed = " or ".join(r.value for r in roles_allowing(action))
        raise Forbidden(
            f"{_who(principal)} has role '{principal.role.value}', which may not '{action}'; "
            f"that needs a key with role {allowed}"
        )
    if action == "predict" and principal.deployments and deployment not in principal.deployments:
        if deployment is None:
            raise Forbidden(f"{_who(principal)} may predict only on named deployments; say which deployment")
        raise Forbidden(
            f"{_who(principal)} may predict only on {', '.join(principal.deployments)}, not on "
            f"'{deployment}'; ask an admin for a key that lists it "
            "(`modelplane keys create --deployment NAME`)"
        )


def _who(principal: Principal) -> str:
    return f"key {principal.key_id}" if principal.key_id else f"user {principal.name}"
