"""A real HTTP receiver on a free 127.0.0.1 port, and a fast dispatcher over the test's store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from modelplane.events.dispatch import Dispatcher, DispatchOptions
from modelplane.registry.registry import NewVersion, register
from modelplane.store import Store

FAST = DispatchOptions(poll_s=0.01, timeout_s=2.0, backoff_s=0.02, backoff_cap_s=0.1, max_attempts=3)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next of `answers` (then 200), and records it."""

    url: str
    answers: list[int] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.got) >= count, timeout_s), self.got
            return list(self.got)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            me = state[0]
            code = me.answers.pop(0) if me.answers else 200
            self.send_response(code)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            with me.arrived:
                me.got.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                me.arrived.notify_all()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state[0]
    server.shutdown()
    server.server_close()


@pytest.fixture
def dispatcher(store: Store) -> Iterator[Dispatcher]:
    running = Dispatcher(store, FAST).start()
    yield running
    running.stop()


def register_version(store: Store, tmp_path: Path, name: str = "m", payload: bytes = b"w") -> str:
    weights = tmp_path / f"{name}-{payload.hex()}.bin"
    weights.write_bytes(payload)
    new = NewVersion(
        model_name=name,
        task="classification",
        framework="torch",
        kind="mlp",
        spec={"kind": "mlp", "input_shape": [4]},
        weights_path=weights,
        params={},
        metrics={},
        classes=["a", "b"],
    )
    return register(store, new, by="alice").ref
