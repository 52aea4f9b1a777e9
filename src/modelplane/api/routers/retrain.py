"""/api/v1/retrain-policies: continuous training — a policy per model (set, show, list, delete) and a
manual trigger that queues a retrain job at once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.retrain.firings import trigger_now
from modelplane.retrain.policies import delete_policy, get_policy, list_policies, set_policy
from modelplane.retrain.settings import DEFAULT_EPOCHS, DEFAULT_REPLAY
from modelplane.security.principal import Principal

router = APIRouter(tags=["retrain"])


class PolicyBody(BaseModel):
    """What `modelplane retrain-policy set` takes; every value is checked by the policy itself, so the API
    and the CLI without a server refuse the same things with the same words."""

    model_config = ConfigDict(extra="forbid")
    data: str = Field(description="The dataset to watch (its newest version is what a retrain uses)")
    on: str = Field(
        "new-data", description="new-data, manual, drift, accuracy-drop or schedule:CRON (5 fields, UTC)"
    )
    gate: str | None = Field(None, description="e.g. accuracy>=production-0.002 (default: no worse)")
    canary: str | None = Field(None, description="PERCENT:DURATION, e.g. 10:15m, or none")
    replay: float = Field(
        DEFAULT_REPLAY, description="Share of old training rows replayed next to the new ones"
    )
    epochs: int = Field(DEFAULT_EPOCHS, description="Fine-tuning epochs")
    lr: float | None = Field(
        None, description="Fine-tuning learning rate (default: a quarter of production's)"
    )
    enabled: bool = True
    when: str | None = Field(
        None, description="drift / accuracy-drop only: the alert rule that fires it, e.g. 'drift > 0.3'"
    )


@router.get("/retrain-policies")
def policies_list(
    pages: Page = Depends(page), caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Every policy with its latest firing."""
    return pages.of(list_policies(s.store))


@router.get("/retrain-policies/{model}")
def policies_get(
    model: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """The policy and its recent firings (what fired, what the gate said, where the candidate went)."""
    return get_policy(s.store, model).to_dict()


@router.put("/retrain-policies/{model}")
def policies_set(
    model: str, body: PolicyBody, caller: Principal = require("retrain"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Create or replace the policy of `model`."""
    return set_policy(s.store, model, **body.model_dump(), by=caller.actor).to_dict()


@router.delete("/retrain-policies/{model}", status_code=204)
def policies_delete(
    model: str, caller: Principal = require("retrain"), s: ControlState = Depends(state)
) -> None:
    delete_policy(s.store, model, by=caller.actor)


@router.post("/retrain-policies/{model}/trigger", status_code=202)
def policies_trigger(
    model: str, caller: Principal = require("retrain"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Retrain now on the newest data; answers with the firing, whose `job_id` is the job to follow."""
    return trigger_now(s.store, model, by=caller.actor).to_dict()
