"""/api/v1/keys, /api/v1/usage and /api/v1/audit: who may call, what they used, what changed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.security import audit
from modelplane.security.keys import create_key, list_keys, revoke_key
from modelplane.security.metering import parse_day, usage_report
from modelplane.security.principal import Principal

router = APIRouter(tags=["security"])


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str
    name: str
    deployments: list[str] = Field(default_factory=list)
    rate: str | None = None
    quota: str | None = None


@router.post("/keys", status_code=201)
def keys_create(
    body: KeyRequest, caller: Principal = require("keys:admin"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """The raw key is in this answer only; it is stored as a hash."""
    created = create_key(
        s.store,
        caller,
        role=body.role,
        name=body.name,
        deployments=body.deployments,
        rate=body.rate,
        quota=body.quota,
    )
    return {"key": created.key, "info": created.info.to_dict()}


@router.get("/keys")
def keys_list(
    include_revoked: bool = Query(True),
    pages: Page = Depends(page),
    caller: Principal = require("keys:admin"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    return pages.of(list_keys(s.store, caller, include_revoked=include_revoked))


@router.delete("/keys/{key_id}")
def keys_revoke(
    key_id: str, caller: Principal = require("keys:admin"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return revoke_key(s.store, caller, key_id).to_dict()


@router.get("/usage")
def usage(
    since: str | None = Query(None, description="First UTC day, YYYY-MM-DD (default: the 1st of this month)"),
    until: str | None = Query(None, description="Last UTC day, YYYY-MM-DD (default: today)"),
    key: str | None = Query(None, description="Only this key id"),
    pages: Page = Depends(page),
    caller: Principal = require("usage:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    first = parse_day(since, "since") if since else None
    last = parse_day(until, "until") if until else None
    return pages.of(usage_report(s.store, first, last, key=key))


@router.get("/audit")
def audit_log(
    limit: int = Query(50, ge=1, le=10_000),
    caller: Principal = require("audit:read"),
    s: ControlState = Depends(state),
) -> list[dict[str, Any]]:
    return [entry.to_dict() for entry in audit.log(s.store, limit=limit)]


@router.get("/audit/verify")
def audit_verify(
    caller: Principal = require("audit:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return audit.verify(s.store).to_dict()


@router.get("/audit/head")
def audit_head(caller: Principal = require("audit:read"), s: ControlState = Depends(state)) -> dict[str, Any]:
    found = audit.head(s.store)
    return {"seq": found.seq, "hash": found.hash}
