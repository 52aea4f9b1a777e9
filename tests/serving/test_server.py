"""The data plane's listening socket: what every REST connection inherits."""

from __future__ import annotations

import socket

from modelplane.serving.server import bind


def test_accepted_connections_do_not_wait_for_delayed_acks() -> None:
    listener = bind("127.0.0.1", 0)
    with listener, socket.create_connection(listener.getsockname()) as client:
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert client.fileno() == -1
