"""/api/v1/deployments/{name}/feedback and /live: ground truth for logged predictions, and the live
metrics per served version it gives.

Feedback needs a key that may predict on the deployment (the application that asked for the predictions
is the one that learns the truth): a consumer key scoped to other deployments is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from modelplane.api.deps import ControlState, require, state
from modelplane.errors import Invalid
from modelplane.monitoring.feedback import record_feedback
from modelplane.monitoring.live import live_metrics
from modelplane.monitoring.served import served
from modelplane.monitoring.settings import parse_duration
from modelplane.security.principal import Principal
from modelplane.security.roles import authorize
from modelplane.serving.types import Credentials

router = APIRouter(tags=["monitoring"])


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Any] = Field(
        description='Up to 100,000 of {"request_id": "...", "row": 0, "label": "cat"} (classifiers) or '
        '{"request_id": "...", "row": 0, "value": 1.5} (regressors)'
    )


def _predictor(name: str, request: Request) -> Principal:
    """The caller, if its key may predict on deployment `name` (404 first when there is no such
    deployment: a key scoped to other deployments learns no more than that)."""
    control = state(request)
    headers = request.headers
    caller = control.gate.principal(Credentials(headers.get("authorization"), headers.get("x-api-key")))
    served(control.store, name)
    authorize(caller, "predict", name)
    return caller


_predictor.action = "predict"  # type: ignore[attr-defined]  # read by the test that walks every route


@router.post("/deployments/{name}/feedback")
def feedback_send(
    name: str,
    body: FeedbackBody,
    request: Request,
    caller: Principal = Depends(_predictor),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """Store the labels of logged predictions; the answer counts what was accepted, replaced (a row
    labelled again keeps the last label) and unknown (ids the prediction log does not hold, not stored;
    the first 20 listed). One bad item refuses the whole batch (400); over 100,000 items, 413."""
    # This server's log writes at least once a second: flushed first, a label sent right after its
    # prediction finds it. (A prediction another server answered in the last second may still be unknown.)
    prediction_log = getattr(request.app.state, "prediction_log", None)
    if prediction_log is not None:
        prediction_log.flush()
    home = s.store.settings.home
    return record_feedback(s.store, home, name, body.items, key_id=caller.key_id).to_dict()


@router.get("/deployments/{name}/live")
def live(
    name: str,
    window: str = Query(
        "1h", max_length=20, description="1h, 1d, 7d or any duration (with until: before it)"
    ),
    since: datetime | None = Query(None, description="Window start (ISO 8601); overrides window"),
    until: datetime | None = Query(None, description="Window end (ISO 8601); default now"),
    caller: Principal = require("deployments:read"),
    s: ControlState = Depends(state),
) -> list[dict[str, Any]]:
    """Per served version: logged rows, labelled rows, live accuracy and macro F1 (or MAE and RMSE) over
    the window's predictions, beside the version's test metrics."""
    end = _utc(until) if until is not None else datetime.now(UTC)
    start = _utc(since) if since is not None else end - parse_duration(window, "window")
    if start >= end:
        raise Invalid(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    found = live_metrics(s.store, s.store.settings.home, name, since=start, until=end)
    return [m.to_dict() for m in found]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
