"""Webhooks and the event stream on a server."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from modelplane import errors
from modelplane.client.http import Area, error_from, parse, quoted

if TYPE_CHECKING:
    from modelplane.events.views import DeliveryInfo, Event, NewWebhook, WebhookInfo


class Webhooks(Area):
    def add(
        self, url: str, *, events: tuple[str, ...] | builtins.list[str] = (), secret: str | None = None
    ) -> NewWebhook:
        from modelplane.events.views import NewWebhook, WebhookInfo

        body = {"url": url, "events": list(events), "secret": secret}
        found = self._http.json("POST", "/api/v1/webhooks", json=body)
        return NewWebhook(found["secret"], parse(WebhookInfo, found["info"]))

    def list(self) -> builtins.list[WebhookInfo]:
        from modelplane.events.views import WebhookInfo

        return [parse(WebhookInfo, item) for item in self._http.items("/api/v1/webhooks")]

    def remove(self, webhook_id: str) -> None:
        self._http.call("DELETE", f"/api/v1/webhooks/{quoted(webhook_id)}")

    def test(self, webhook_id: str) -> DeliveryInfo:
        from modelplane.events.views import DeliveryInfo

        return parse(DeliveryInfo, self._http.json("POST", f"/api/v1/webhooks/{quoted(webhook_id)}/test"))

    def deliveries(self, webhook_id: str, *, limit: int = 50) -> builtins.list[DeliveryInfo]:
        from modelplane.events.views import DeliveryInfo

        path = f"/api/v1/webhooks/{quoted(webhook_id)}/deliveries"
        return [parse(DeliveryInfo, item) for item in self._http.json("GET", path, params={"limit": limit})]


class Events(Area):
    def list(
        self,
        *,
        types: tuple[str, ...] | builtins.list[str] = (),
        after: int | None = None,
        limit: int = 50,
    ) -> builtins.list[Event]:
        from modelplane.events.views import Event

        params: dict[str, Any] = {"limit": limit, **({"types": ",".join(types)} if types else {})}
        if after is not None:
            params["after"] = after
        return [parse(Event, item) for item in self._http.json("GET", "/api/v1/events", params=params)]

    def stream(
        self, *, types: tuple[str, ...] | builtins.list[str] = (), last_id: int | None = None
    ) -> Iterator[Event]:
        """The server's event stream (SSE), until the server ends it or the caller stops iterating."""
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        params = {"types": ",".join(types)} if types else {}
        timeout = httpx.Timeout(self._http.client.timeout.connect, read=None)
        request = self._http.client.build_request(
            "GET", "/api/v1/events", params=params, headers=headers, timeout=timeout
        )
        try:
            response = self._http.client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise errors.Unavailable(f"cannot reach modelplane at {self._http.url} ({exc})") from None
        if response.status_code >= 400:
            response.read()
            response.close()
            raise error_from(response)
        return _events(response)


def _events(response: httpx.Response) -> Iterator[Event]:
    """Parse the SSE lines: one event per `data:` block; comments (heartbeats) and `retry:` skipped."""
    from modelplane.events.views import Event

    try:
        data: builtins.list[str] = []
        for line in response.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line and data:
                yield parse(Event, orjson.loads("\n".join(data)))
                data = []
    except httpx.RemoteProtocolError:  # the server went away mid-stream: the stream ends
        return
    finally:
        response.close()
