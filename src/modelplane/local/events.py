"""Webhooks and events in-process (you hold the database: you act as the admin). Deliveries are sent by
`modelplane up`'s dispatcher; `test` sends its ping from here."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import TYPE_CHECKING

from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.events.views import DeliveryInfo, Event, NewWebhook, WebhookInfo
    from modelplane.security.principal import Principal


def _actor() -> Principal:
    from modelplane.provenance import current_user
    from modelplane.security.principal import Principal

    return Principal.local(current_user())


class Webhooks:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(
        self, url: str, *, events: tuple[str, ...] | builtins.list[str] = (), secret: str | None = None
    ) -> NewWebhook:
        from modelplane.events.views import NewWebhook
        from modelplane.events.webhooks import add_webhook

        made, info = add_webhook(self._store, url, events=events, secret=secret, by=_actor().actor)
        return NewWebhook(made, info)

    def list(self) -> builtins.list[WebhookInfo]:
        from modelplane.events.webhooks import list_webhooks

        return list_webhooks(self._store)

    def remove(self, webhook_id: str) -> None:
        from modelplane.events.webhooks import remove_webhook

        remove_webhook(self._store, webhook_id, by=_actor().actor)

    def test(self, webhook_id: str) -> DeliveryInfo:
        from modelplane.events.dispatch import ping

        return ping(self._store, webhook_id)

    def deliveries(self, webhook_id: str, *, limit: int = 50) -> builtins.list[DeliveryInfo]:
        from modelplane.events.webhooks import list_deliveries

        return list_deliveries(self._store, webhook_id, limit=limit)


class Events:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(
        self,
        *,
        types: tuple[str, ...] | builtins.list[str] = (),
        after: int | None = None,
        limit: int = 50,
    ) -> builtins.list[Event]:
        from modelplane.events.catalogue import parse_types
        from modelplane.events.stream import recent_events

        return recent_events(self._store, _actor(), types=parse_types(list(types)), after=after, limit=limit)

    def stream(
        self, *, types: tuple[str, ...] | builtins.list[str] = (), last_id: int | None = None
    ) -> Iterator[Event]:
        """Polls the ledger (twice a second) until the caller stops iterating."""
        from modelplane.events.catalogue import parse_types
        from modelplane.events.stream import follow

        return follow(self._store, _actor(), types=parse_types(list(types)), last_id=last_id)
