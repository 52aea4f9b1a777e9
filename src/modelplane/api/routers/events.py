"""/api/v1/webhooks (admin) and /api/v1/events: platform events as JSON or as a server-sent-event stream.

GET /api/v1/events answers JSON (the newest events, or those after `after`) unless the request accepts
`text/event-stream` (as EventSource does; with curl: `-H 'Accept: text/event-stream'`), when it streams:
each event as `id: <ledger seq>`, `event: <type>`, `data: <JSON>`; a comment every `heartbeat_s` while
nothing happens (so proxies keep it open); resuming after the `Last-Event-ID` header (or `?last_id=`),
else from now. The stream ends when the server stops; clients reconnect with their last id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.errors import Invalid
from modelplane.events.catalogue import parse_types
from modelplane.events.dispatch import ping
from modelplane.events.stream import head_seq, read_events, recent_events
from modelplane.events.webhooks import add_webhook, list_deliveries, list_webhooks, remove_webhook
from modelplane.security.principal import Principal
from modelplane.store import Store

router = APIRouter(tags=["events"])


@dataclass(frozen=True)
class StreamSettings:
    """How streams behave on one server; `stopping` turns true when the server shuts down."""

    stopping: Callable[[], bool] = lambda: False
    poll_s: float = 0.25
    heartbeat_s: float = 15.0


def stream_settings(request: Request) -> StreamSettings:
    found: StreamSettings = getattr(request.app.state, "event_stream", StreamSettings())
    return found


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, description="Event types; empty: every type")
    secret: str | None = Field(None, max_length=500, description="Signing secret; generated if left out")


@router.post("/webhooks", status_code=201)
def webhooks_add(
    body: WebhookRequest, caller: Principal = require("webhooks:admin"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """The secret is in this answer only (generated when none was given)."""
    secret, info = add_webhook(s.store, body.url, events=body.events, secret=body.secret, by=caller.actor)
    return {"secret": secret, "info": info.to_dict()}


@router.get("/webhooks")
def webhooks_list(
    pages: Page = Depends(page),
    caller: Principal = require("webhooks:admin"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    return pages.of(list_webhooks(s.store))


@router.delete("/webhooks/{webhook_id}", status_code=204)
def webhooks_remove(
    webhook_id: str, caller: Principal = require("webhooks:admin"), s: ControlState = Depends(state)
) -> None:
    remove_webhook(s.store, webhook_id, by=caller.actor)


@router.post("/webhooks/{webhook_id}/test")
def webhooks_test(
    webhook_id: str, caller: Principal = require("webhooks:admin"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Send a `ping` event now; the answer is the delivery, with the receiver's status code or error."""
    return ping(s.store, webhook_id).to_dict()


@router.get("/webhooks/{webhook_id}/deliveries")
def webhooks_deliveries(
    webhook_id: str,
    limit: int = Query(50, ge=1, le=1000),
    caller: Principal = require("webhooks:admin"),
    s: ControlState = Depends(state),
) -> list[dict[str, Any]]:
    """Newest first."""
    return [d.to_dict() for d in list_deliveries(s.store, webhook_id, limit=limit)]


@router.get("/events", response_model=None)
def events(
    request: Request,
    types: str | None = Query(None, max_length=2000, description="Comma-separated event types"),
    after: int | None = Query(None, ge=0, le=2**62, description="JSON: events after this id"),
    limit: int = Query(50, ge=1, le=1000, description="JSON: events to return"),
    last_id: int | None = Query(None, ge=0, le=2**62, description="Stream: resume after this id"),
    last_event_id: str | None = Header(None, description="Stream: resume after this id (EventSource)"),
    caller: Principal = require("events:read"),
    s: ControlState = Depends(state),
) -> list[dict[str, Any]] | StreamingResponse:
    """Events the caller's role may see, oldest first: JSON, or a text/event-stream (see module doc)."""
    wanted = parse_types(types)
    if "text/event-stream" not in request.headers.get("accept", ""):
        return [e.to_dict() for e in recent_events(s.store, caller, types=wanted, after=after, limit=limit)]
    start = _resume_point(last_event_id, last_id)
    if start is None:
        start = head_seq(s.store)
    body = _sse(s.store, caller, wanted, start, stream_settings(request))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


def _resume_point(header: str | None, query: int | None) -> int | None:
    if header is None or not header.strip():
        return query
    try:
        return max(int(header.strip()), 0)
    except ValueError:
        raise Invalid(f"Last-Event-ID must be an event id (a number), not {header[:40]!r}") from None


async def _sse(
    store: Store, caller: Principal, types: tuple[str, ...], after: int, settings: StreamSettings
) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    quiet_since = time.monotonic()
    while not settings.stopping():
        found, after = await run_in_threadpool(read_events, store, caller, after=after, types=types)
        for event in found:
            data = orjson.dumps(event.to_dict()).decode()
            yield f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()
        if found:
            quiet_since = time.monotonic()
            continue
        if time.monotonic() - quiet_since >= settings.heartbeat_s:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(settings.poll_s)
