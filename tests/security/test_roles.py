from __future__ import annotations

import pytest

from modelplane.errors import Forbidden
from modelplane.security.principal import Principal
from modelplane.security.roles import ACTIONS, PERMISSIONS, Role, authorize

# The whole table, written out: a change to who may do what must change this test too.
EXPECTED = {
    "data:read": {"admin", "developer"},
    "data:write": {"admin", "developer"},
    "train": {"admin", "developer"},
    "models:read": {"admin", "developer"},
    "models:write": {"admin", "developer"},
    "deployments:read": {"admin", "developer"},
    "deploy": {"admin", "developer"},
    "predict": {"admin", "developer", "consumer"},
    "usage:read": {"admin", "developer"},
    "audit:read": {"admin"},
    "keys:admin": {"admin"},
    "jobs:read": {"admin", "developer"},
    "jobs:cancel": {"admin", "developer"},
    "batch": {"admin", "developer"},
    "retrain": {"admin", "developer"},
    "webhooks:admin": {"admin"},
    "events:read": {"admin", "developer", "consumer"},
    "maintenance:admin": {"admin"},
}


def _principal(role: Role, deployments: tuple[str, ...] = ()) -> Principal:
    return Principal(key_id="0123456789ab", name="k", role=role, deployments=deployments)


def test_the_table_covers_every_action() -> None:
    assert set(EXPECTED) == set(ACTIONS)
    assert all(set(actions) <= set(ACTIONS) for actions in PERMISSIONS.values())


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_for_every_role(role: Role, action: str) -> None:
    principal = _principal(role, ("digits",) if role is Role.CONSUMER else ())
    if role.value in EXPECTED[action]:
        authorize(principal, action, deployment="digits")  # type: ignore[arg-type]
        return
    with pytest.raises(Forbidden) as caught:
        authorize(principal, action, deployment="digits")  # type: ignore[arg-type]
    message = str(caught.value)
    assert f"role '{role.value}'" in message and f"'{action}'" in message
    assert all(allowed in message for allowed in EXPECTED[action])


def test_a_consumer_predicts_only_on_its_deployments() -> None:
    consumer = _principal(Role.CONSUMER, ("digits", "iris"))
    authorize(consumer, "predict", deployment="iris")
    with pytest.raises(Forbidden, match=r"only on digits, iris, not on 'wine'.*--deployment"):
        authorize(consumer, "predict", deployment="wine")
    with pytest.raises(Forbidden, match="say which deployment"):
        authorize(consumer, "predict")


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown action 'delete:everything'"):
        authorize(_principal(Role.ADMIN), "delete:everything")  # type: ignore[arg-type]
