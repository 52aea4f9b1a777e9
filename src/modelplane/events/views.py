"""What the events area returns: an event, a webhook, a delivery (plain data, JSON both ways)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Event:
    """One platform event; `id` is its audit ledger seq (ordered, and what a stream resumes after)."""

    id: int
    type: str
    at: str
    actor: str
    target: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WebhookInfo:
    """A webhook; `events` empty means every type. `secret_at_rest` says how its secret is kept."""

    id: str
    url: str
    events: list[str]
    secret_at_rest: str
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewWebhook:
    """A webhook just added, with its signing secret (shown here once; generated when none was given)."""

    secret: str
    info: WebhookInfo

    def to_dict(self) -> dict[str, Any]:
        return {"secret": self.secret, "info": self.info.to_dict()}


@dataclass(frozen=True)
class DeliveryInfo:
    """One event owed to one webhook: `state` pending, succeeded or failed; the last attempt's answer."""

    id: str
    webhook_id: str
    event_id: int | None
    event_type: str
    state: str
    attempts: int
    status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
