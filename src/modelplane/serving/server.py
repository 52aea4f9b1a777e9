"""`modelplane serve`: the data plane — V2 REST and gRPC over one model manager, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from modelplane.serving.grpc_server import start_grpc_server
from modelplane.serving.manager import ModelManager
from modelplane.serving.metrics import ServingMetrics, default_metrics
from modelplane.serving.rest import create_rest_app
from modelplane.store import Store

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """Bind before serving so port 0 works and the real port is known up front."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it a response written as header + body waits ~40 ms
    # for the client's delayed ACK (Nagle), and the event loop does not set it on pre-bound sockets.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    grpc_port: int | None = 8001
    poll_interval_s: float = 1.0
    max_body_bytes: int = 64 * 2**20


class DataPlane:
    """Manager + REST + gRPC on one event loop; `run` serves until `stop` (or a signal)."""

    def __init__(self, store: Store, options: ServeOptions, metrics: ServingMetrics | None = None) -> None:
        self.store = store
        self.options = options
        self.metrics = metrics or default_metrics()
        self.manager = ModelManager(store, metrics=self.metrics, poll_interval_s=options.poll_interval_s)
        self.rest_socket = bind(options.host, options.port)
        self.rest_port = self.rest_socket.getsockname()[1]
        self.grpc_port: int | None = None
        self.started = threading.Event()
        self._uvicorn: uvicorn.Server | None = None

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        await self.manager.start()
        app = create_rest_app(self.manager, metrics=self.metrics, max_body_bytes=self.options.max_body_bytes)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._uvicorn = uvicorn.Server(config)
        grpc_server = None
        if self.options.grpc_port is not None:
            grpc_server, self.grpc_port = await start_grpc_server(
                self.manager,
                host=self.options.host,
                port=self.options.grpc_port,
                metrics=self.metrics,
                max_message_bytes=self.options.max_body_bytes,
            )
        log.info("REST  http://%s:%d/v2  (also /v1/predict, /metrics)", self.options.host, self.rest_port)
        if self.grpc_port is not None:
            log.info("gRPC  %s:%d  (inference.GRPCInferenceService)", self.options.host, self.grpc_port)
        self.started.set()
        try:
            if install_signal_handlers:
                await self._uvicorn.serve(sockets=[self.rest_socket])
            else:
                with _no_signal_handlers(self._uvicorn):
                    await self._uvicorn.serve(sockets=[self.rest_socket])
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=2.0)
            await self.manager.stop()

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True


@contextlib.contextmanager
def _keep_signals() -> Iterator[None]:
    yield


@contextlib.contextmanager
def _no_signal_handlers(server: uvicorn.Server) -> Iterator[None]:
    """Off the main thread (tests, benchmarks) signals belong to the host program."""
    original = server.capture_signals
    server.capture_signals = _keep_signals  # type: ignore[method-assign]
    try:
        yield
    finally:
        server.capture_signals = original  # type: ignore[method-assign]


class BackgroundDataPlane:
    """The data plane on a thread of its own: for tests and benchmarks that talk to it over sockets."""

    def __init__(self, store: Store, options: ServeOptions, metrics: ServingMetrics | None = None) -> None:
        self.plane = DataPlane(store, options, metrics or ServingMetrics())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="modelplane-data-plane", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self.plane.run(install_signal_handlers=False))
        except BaseException as exc:  # surfaced to the starting thread by start()
            self._error = exc
            self.plane.started.set()

    def start(self, timeout_s: float = 60.0) -> BackgroundDataPlane:
        self._thread.start()
        if not self.plane.started.wait(timeout_s) or self._error is not None:
            raise RuntimeError(f"the data plane did not start: {self._error!r}")
        return self

    def run_coroutine(self, coro: object, timeout_s: float = 60.0) -> object:
        """Run a coroutine on the plane's loop (e.g. `manager.sync()`) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)  # type: ignore[arg-type]

    def stop(self, timeout_s: float = 30.0) -> None:
        self._loop.call_soon_threadsafe(self.plane.stop)
        self._thread.join(timeout_s)

    @property
    def url(self) -> str:
        return f"http://{self.plane.options.host}:{self.plane.rest_port}"

    def __enter__(self) -> BackgroundDataPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
