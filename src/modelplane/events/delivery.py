"""One delivery over HTTP: the JSON body, its signature, the POST, and what came back.

A delivery is `POST URL` with the JSON body `{"id", "type", "at", "actor", "target", "data"}` (`id` is the
ledger seq, 0 for a ping) and the headers

    X-Modelplane-Event: model.alias.moved
    X-Modelplane-Delivery: <delivery id; the same on every retry, so receivers can drop duplicates>
    X-Modelplane-Timestamp: <unix seconds of this attempt>
    X-Modelplane-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

The timestamp is inside the signed material, so a captured request replayed later fails a receiver that
refuses timestamps older than a few minutes (`verify_signature` does, 5 min by default). Any 2xx is
success; anything else, a timeout or a refused connection is a failed attempt, retried by the dispatcher.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import httpx
import orjson

from modelplane import __version__
from modelplane.events.views import Event

SIGNATURE = "X-Modelplane-Signature"
TIMESTAMP = "X-Modelplane-Timestamp"
EVENT = "X-Modelplane-Event"
DELIVERY = "X-Modelplane-Delivery"
TOLERANCE_S = 300.0


def event_body(event: Event) -> str:
    return orjson.dumps(event.to_dict()).decode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent (no replay)."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def post(
    client: httpx.Client, url: str, secret: str, *, delivery_id: str, event_type: str, body: str
) -> Outcome:
    """One attempt; never raises for what the receiver or the network did."""
    data = body.encode()
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"modelplane-webhooks/{__version__}",
        EVENT: event_type,
        DELIVERY: delivery_id,
        TIMESTAMP: str(stamp),
        SIGNATURE: sign(secret, stamp, data),
    }
    try:
        response = client.post(url, content=data, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None)
    return Outcome(response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")
