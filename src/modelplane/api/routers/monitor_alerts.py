"""/api/v1/deployments/{name}/alerts (a deployment's alert rules), /api/v1/alert-rules (every rule; remove
one by id) and /api/v1/alerts (the history of firings and resolutions, newest first)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.monitoring.alert_store import MAX_HISTORY, add_rule, alert_history, list_rules, remove_rule
from modelplane.security.principal import Principal

router = APIRouter(tags=["monitoring"])


class RuleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    when: str = Field(max_length=1000, description="e.g. 'drift > 0.2 for 2 windows'")


@router.get("/deployments/{name}/alerts")
def alert_rules_of(
    name: str,
    pages: Page = Depends(page),
    caller: Principal = require("deployments:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """The deployment's alert rules and where each stands (ok or firing)."""
    return pages.of(list_rules(s.store, name))


@router.post("/deployments/{name}/alerts", status_code=201)
def alert_rules_add(
    name: str, body: RuleRequest, caller: Principal = require("deploy"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Watch the deployment with a rule; a rule that does not parse is a 400 naming the token."""
    return add_rule(s.store, name, body.when, by=caller.actor).to_dict()


@router.get("/alert-rules")
def alert_rules_all(
    pages: Page = Depends(page),
    caller: Principal = require("deployments:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    return pages.of(list_rules(s.store))


@router.delete("/alert-rules/{rule_id}", status_code=204)
def alert_rules_remove(
    rule_id: int, caller: Principal = require("deploy"), s: ControlState = Depends(state)
) -> None:
    remove_rule(s.store, rule_id, by=caller.actor)


@router.get("/alerts")
def alerts_history(
    deployment: str | None = Query(None, description="Only this deployment's alerts"),
    limit: int = Query(50, ge=1, le=MAX_HISTORY),
    caller: Principal = require("deployments:read"),
    s: ControlState = Depends(state),
) -> list[dict[str, Any]]:
    """Firings and resolutions, newest first."""
    return [e.to_dict() for e in alert_history(s.store, deployment, limit=limit)]
