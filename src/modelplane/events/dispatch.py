"""The dispatcher: a thread in `modelplane up` that turns new ledger entries into webhook deliveries and
sends them, off the request path.

Fan-out: the one-row `event_cursor` holds the newest ledger seq already turned into deliveries. A pass
reads the entries after it and, in one transaction serialised across processes, advances the cursor and
inserts a pending delivery per (event, subscribed webhook); a crash before the commit leaves both as they
were, so nothing is lost, and two servers on one database never fan out an entry twice (the cursor moves
under a lock, and (webhook, event) is unique).

Sending: due deliveries are claimed with a conditional UPDATE that takes a lease (as jobs/lease.py does),
so two servers never send one at the same time, and one whose sender died is retried when its lease runs
out. A small thread pool sends them, at most `per_webhook` at once per webhook, so one slow or dead
endpoint neither delays the others nor the action that caused the event. A failed attempt is retried
after backoff_s, 2x, 4x ... (capped), `max_attempts` in all, then the delivery is `failed`. Deliveries to
one webhook may arrive out of order (retries, parallel sends): receivers order by the event `id`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import or_, select, update

from modelplane.errors import NotFound
from modelplane.events.catalogue import BY_ACTION, PING
from modelplane.events.delivery import Outcome, event_body, post
from modelplane.events.stream import as_event
from modelplane.events.views import DeliveryInfo, Event
from modelplane.events.webhooks import delivery_view, secret_of, webhook_row
from modelplane.store import Store
from modelplane.store.db import serialise
from modelplane.store.orm import AuditEntry, AuditHead, EventCursor, Webhook, WebhookDelivery, utcnow

log = logging.getLogger(__name__)

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


@dataclass(frozen=True)
class DispatchOptions:
    poll_s: float = 0.25
    timeout_s: float = 5.0  # one attempt's HTTP timeout
    backoff_s: float = 1.0  # the first retry's delay; doubled each time
    backoff_cap_s: float = 300.0
    max_attempts: int = 8
    senders: int = 8  # deliveries sent at once, over all webhooks
    per_webhook: int = 2  # ... and to one webhook
    fan_out_batch: int = 500

    @property
    def lease_s(self) -> float:
        """Longer than any attempt: a sender still waiting on its POST never loses the delivery."""
        return self.timeout_s * 2 + 10.0

    def backoff(self, attempts: int) -> float:
        return float(min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_cap_s))


def fan_out(store: Store, batch: int = 500) -> int:
    """Turn ledger entries after the cursor into pending deliveries; the number of entries consumed."""
    with store.db.session() as session:
        cursor = session.scalar(select(EventCursor.seq).where(EventCursor.id == 1)) or 0
        top = session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0
    if top <= cursor:  # the common case, without taking any lock
        return 0
    now = utcnow()
    with store.db.session() as session:
        serialise(session, "events.fan-out")
        cursor = session.scalar(select(EventCursor.seq).where(EventCursor.id == 1)) or 0
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > cursor).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return 0
        hooks = session.scalars(select(Webhook)).all()
        for row in rows:
            kind = BY_ACTION.get(row.action)
            if kind is None:
                continue
            body = ""
            for hook in hooks:
                if hook.after_seq >= row.seq or (hook.events and kind.name not in hook.events):
                    continue
                body = body or event_body(as_event(row, kind))
                session.add(
                    WebhookDelivery(
                        id=uuid.uuid4().hex,
                        webhook_id=hook.id,
                        event_seq=row.seq,
                        event_type=kind.name,
                        body=body,
                        state=PENDING,
                        next_attempt_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
        session.execute(update(EventCursor).where(EventCursor.id == 1).values(seq=rows[-1].seq))
    return len(rows)


def _claim(store: Store, delivery_id: str, lease_s: float) -> str | None:
    token, now = uuid.uuid4().hex, utcnow()
    with store.db.session() as session:
        taken = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.state == PENDING,
                or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
            )
            .values(lease_token=token, lease_until=now + timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)
        )
        return token if taken.rowcount == 1 else None  # type: ignore[attr-defined]


def _record(store: Store, delivery_id: str, token: str, outcome: Outcome, options: DispatchOptions) -> None:
    """Write an attempt's outcome, only while this sender still holds the delivery."""
    now = utcnow()
    with store.db.session() as session:
        attempts = session.scalar(
            select(WebhookDelivery.attempts).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.lease_token == token
            )
        )
        if attempts is None:  # removed with its webhook, or (lease expired) taken over
            return
        attempts += 1
        if outcome.ok:
            state, retry_at = SUCCEEDED, None
        elif attempts >= options.max_attempts:
            state, retry_at = FAILED, None
        else:
            state, retry_at = PENDING, now + timedelta(seconds=options.backoff(attempts))
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.lease_token == token)
            .values(
                state=state,
                attempts=attempts,
                status_code=outcome.status_code,
                last_error=outcome.error,
                next_attempt_at=retry_at,
                lease_token=None,
                lease_until=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )


def _attempt(store: Store, client: httpx.Client, delivery_id: str) -> tuple[str, Outcome] | None:
    """POST one delivery; None when it no longer exists."""
    with store.db.session() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            return None
        hook = session.get(Webhook, row.webhook_id)
        if hook is None:
            return None
        url, event_type, body = hook.url, row.event_type, row.body
        try:
            secret = secret_of(store, hook)
        except Exception as exc:  # a sealed secret we cannot open: a failed attempt that says why
            return url, Outcome(None, str(exc))
    return url, post(client, url, secret, delivery_id=delivery_id, event_type=event_type, body=body)


def ping(store: Store, webhook_id: str, *, timeout_s: float = DispatchOptions.timeout_s) -> DeliveryInfo:
    """Send a `ping` event now, wait for the answer and log it as a delivery (one attempt, no retry)."""
    now, token = utcnow(), uuid.uuid4().hex
    with store.db.session() as session:
        hook = webhook_row(session, webhook_id)
        event = Event(0, PING, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "", hook.id, {"url": hook.url})
        delivery = WebhookDelivery(
            id=uuid.uuid4().hex,
            webhook_id=hook.id,
            event_seq=None,
            event_type=PING,
            body=event_body(event),
            state=PENDING,
            lease_token=token,
            lease_until=now + timedelta(seconds=timeout_s * 2 + 10),
            created_at=now,
            updated_at=now,
        )
        session.add(delivery)
    with httpx.Client(timeout=timeout_s) as client:
        found = _attempt(store, client, delivery.id)
    if found is None:
        raise _gone(webhook_id)
    _record(store, delivery.id, token, found[1], DispatchOptions(max_attempts=1))
    with store.db.session() as session:
        row = session.get(WebhookDelivery, delivery.id)
        if row is None:
            raise _gone(webhook_id)
        return delivery_view(row)


def _gone(webhook_id: str) -> NotFound:
    return NotFound(f"webhook {webhook_id!r} was removed while it was being pinged")


class Dispatcher:
    """Fan-out and sending, in a thread; `start` and `stop` with the server."""

    def __init__(self, store: Store, options: DispatchOptions | None = None) -> None:
        self.store = store
        self.options = options or DispatchOptions()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(self.options.senders, thread_name_prefix="modelplane-webhook")
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._busy: Counter[str] = Counter()  # webhook id -> deliveries being sent

    def start(self) -> Dispatcher:
        limits = httpx.Limits(max_connections=self.options.senders * 2)
        self._client = httpx.Client(timeout=self.options.timeout_s, limits=limits)
        self._thread = threading.Thread(target=self._run, name="modelplane-events", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop claiming; sends under way finish (each within the HTTP timeout). Claimed but unsent
        deliveries are taken again when their lease runs out."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def tick(self) -> int:
        """One pass: fan out new entries, then start sending what is due; the sends started."""
        while fan_out(self.store, self.options.fan_out_batch) >= self.options.fan_out_batch:
            pass
        now = utcnow()
        with self.store.db.session() as session:
            due = session.execute(
                select(WebhookDelivery.id, WebhookDelivery.webhook_id)
                .where(
                    WebhookDelivery.state == PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.event_seq)
                .limit(self.options.senders * 4)
            ).all()
        started = 0
        for delivery_id, webhook_id in due:
            with self._lock:
                if sum(self._busy.values()) >= self.options.senders:
                    break
                if self._busy[webhook_id] >= self.options.per_webhook:
                    continue
            token = _claim(self.store, delivery_id, self.options.lease_s)
            if token is None:
                continue
            with self._lock:
                self._busy[webhook_id] += 1
            self._pool.submit(self._send, delivery_id, webhook_id, token)
            started += 1
        return started

    def _send(self, delivery_id: str, webhook_id: str, token: str) -> None:
        assert self._client is not None  # started
        try:
            found = _attempt(self.store, self._client, delivery_id)
            if found is not None:
                _record(self.store, delivery_id, token, found[1], self.options)
                if not found[1].ok:
                    log.info("webhook %s: delivery %s failed: %s", webhook_id, delivery_id, found[1].error)
        except Exception:  # a database hiccup: the lease runs out and the delivery is tried again
            log.exception("webhook %s: delivery %s could not be recorded", webhook_id, delivery_id)
        finally:
            with self._lock:
                self._busy[webhook_id] -= 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a database hiccup must not end the dispatcher: the next pass retries
                log.exception("event dispatcher: a pass failed; retrying")
            self._stop.wait(self.options.poll_s)
