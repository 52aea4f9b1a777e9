"""Webhooks in the store: add (URL checked, secret sealed where a master key is configured), list, remove,
and the delivery log.

The secret must stay usable (it signs every delivery), so it cannot be hashed like an API key. With a
master key (security/master_key.py) it is sealed with AES-256-GCM bound to the webhook's id, so a database
dump alone does not reveal it; without one it is stored as given, and `secret_at_rest` says so.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelplane.errors import IntegrityError, Invalid, Misconfigured, NotFound
from modelplane.events.catalogue import parse_types
from modelplane.events.views import DeliveryInfo, WebhookInfo
from modelplane.jobs.views import aware
from modelplane.security import audit
from modelplane.security.master_key import MasterKey, configured_master_key
from modelplane.store import Store
from modelplane.store.orm import Webhook, WebhookDelivery

MAX_URL = 2000


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, else Invalid."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(text) > MAX_URL:
        raise Invalid(f"webhook URL must be http:// or https:// (got {url[:100]!r}), e.g. https://host/hook")
    if not parts.hostname:
        raise Invalid(f"webhook URL {url[:100]!r} names no host; give e.g. https://host/hook")
    return text


def _identity(webhook_id: str) -> bytes:
    return b"modelplane:webhook-secret:v1:" + webhook_id.encode()


def _seal(master: MasterKey, webhook_id: str, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(master.key).encrypt(nonce, secret.encode(), _identity(webhook_id))
    return base64.b64encode(nonce + sealed).decode()


def _at_rest(row: Webhook) -> str:
    return f"sealed (master key {row.secret_key_id})" if row.secret_key_id else "plaintext (no master key)"


def webhook_view(row: Webhook) -> WebhookInfo:
    return WebhookInfo(
        row.id, row.url, list(row.events), _at_rest(row), aware(row.created_at), row.created_by
    )


def delivery_view(row: WebhookDelivery) -> DeliveryInfo:
    return DeliveryInfo(
        row.id,
        row.webhook_id,
        row.event_seq,
        row.event_type,
        row.state,
        row.attempts,
        row.status_code,
        row.last_error,
        aware(row.next_attempt_at) if row.next_attempt_at else None,
        aware(row.created_at),
        aware(row.updated_at),
    )


def add_webhook(
    store: Store, url: str, *, events: tuple[str, ...] | list[str] = (), secret: str | None = None, by: str
) -> tuple[str, WebhookInfo]:
    """A new webhook hearing `events` (every type when empty) from now on; returns its secret and view."""
    checked, types = check_url(url), parse_types(list(events))
    if secret is not None and len(secret) < 8:
        raise Invalid("a webhook secret is at least 8 characters; leave it out to have one generated")
    secret = secret or secrets.token_urlsafe(32)
    webhook_id = uuid.uuid4().hex[:12]
    master = configured_master_key(store.settings)
    with store.db.session() as session:
        row = Webhook(
            id=webhook_id,
            url=checked,
            events=list(types),
            secret=_seal(master, webhook_id, secret) if master else secret,
            secret_key_id=master.key_id if master else None,
            after_seq=0,
            created_by=by,
        )
        session.add(row)
        session.flush()
        added = audit.append(
            session, by, "webhook.added", webhook_id, {"url": checked, "events": list(types)}
        )
        row.after_seq = added.seq  # it hears what happens after it exists, not its own creation
        return secret, webhook_view(row)


def webhook_row(session: Session, webhook_id: str) -> Webhook:
    row = session.get(Webhook, webhook_id)
    if row is None:
        raise NotFound(f"no webhook {webhook_id!r}; `modelplane webhooks list` shows them")
    return row


def list_webhooks(store: Store) -> list[WebhookInfo]:
    with store.db.session() as session:
        return [webhook_view(r) for r in session.scalars(select(Webhook).order_by(Webhook.created_at))]


def get_webhook(store: Store, webhook_id: str) -> WebhookInfo:
    with store.db.session() as session:
        return webhook_view(webhook_row(session, webhook_id))


def remove_webhook(store: Store, webhook_id: str, *, by: str) -> None:
    """Remove it with its delivery log; deliveries still owed to it are dropped."""
    with store.db.session() as session:
        row = webhook_row(session, webhook_id)
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
        session.delete(row)
        audit.append(session, by, "webhook.removed", webhook_id, {"url": row.url})


def secret_of(store: Store, row: Webhook) -> str:
    """The signing secret, unsealed where it was sealed."""
    if row.secret_key_id is None:
        return row.secret
    master = configured_master_key(store.settings)
    if master is None or master.key_id != row.secret_key_id:
        raise Misconfigured(
            f"webhook {row.id}'s secret is sealed with master key {row.secret_key_id}, which is not the "
            "configured one; set MODELPLANE_MASTER_KEY(_FILE) to it, or remove and add the webhook again"
        )
    raw = base64.b64decode(row.secret)
    try:
        return AESGCM(master.key).decrypt(raw[:12], raw[12:], _identity(row.id)).decode()
    except InvalidTag as exc:
        raise IntegrityError(
            f"webhook {row.id}'s sealed secret fails authentication: its row was altered; remove and add it"
        ) from exc


def list_deliveries(store: Store, webhook_id: str, *, limit: int = 50) -> list[DeliveryInfo]:
    """The newest `limit` deliveries of a webhook, newest first."""
    with store.db.session() as session:
        webhook_row(session, webhook_id)
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.event_seq.desc())
            .limit(limit)
        )
        return [delivery_view(r) for r in rows]
