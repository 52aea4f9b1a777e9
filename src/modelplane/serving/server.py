"""`modelplane serve`: the data plane — V2 REST and gRPC over one model manager, in one process.

`modelplane up` runs the same, with a gate (API keys, limits, metering), TLS, and the control plane
mounted beside the V2 routes under its own path prefixes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from modelplane.errors import Conflict, Invalid
from modelplane.monitoring.log_writer import PredictionLog
from modelplane.serving.backends import serve_backend
from modelplane.serving.grpc_server import start_grpc_server
from modelplane.serving.loop import new_event_loop
from modelplane.serving.manager import ModelManager
from modelplane.serving.memory import return_large_blocks
from modelplane.serving.metrics import ServingMetrics, default_metrics
from modelplane.serving.repository import DeploymentRepository
from modelplane.serving.rest import create_rest_app
from modelplane.serving.types import Gate
from modelplane.store import Store

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """Bind before serving so port 0 works and the real port is known up front."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it a response written as header + body waits ~40 ms
    # for the client's delayed ACK (Nagle), and the event loop does not set it on pre-bound sockets.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise Conflict(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None
    sock.listen(2048)
    return sock


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    grpc_port: int | None = 8001
    poll_interval_s: float = 1.0
    max_body_bytes: int = 64 * 2**20
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_flush_s: float = 1.0  # how often the prediction log writes (what a kill -9 may lose)
    serve_backend: str = "local"  # where models run: local, or ray (Ray Serve on a cluster)
    ray_address: str | None = None  # with serve_backend ray: the head (None: MODELPLANE_RAY_ADDRESS, auto)
    memory_budget_bytes: int | None = None  # loaded deployments' measured size cap (serving.residency)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


class Mounted:
    """Path prefixes answered by other ASGI apps; everything else (V2, /v1, /metrics) by the data plane.
    The inference routes are tested first, so the hot path pays one string test."""

    def __init__(self, default: ASGIApp, mounts: Mapping[str, ASGIApp]) -> None:
        self.default = default
        self.mounts = tuple(mounts.items())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if not path.startswith("/v2/"):
                for prefix, app in self.mounts:
                    if path == prefix or path.startswith(prefix + "/"):
                        await app(scope, receive, send)
                        return
        await self.default(scope, receive, send)


class DataPlane:
    """Manager + REST + gRPC on one event loop; `run` serves until `stop` (or a signal)."""

    def __init__(
        self,
        store: Store,
        options: ServeOptions,
        metrics: ServingMetrics | None = None,
        *,
        gate: Gate | None = None,
        mounts: Mapping[str, ASGIApp] | None = None,
    ) -> None:
        if (options.tls_cert is None) != (options.tls_key is None):
            raise Invalid("TLS needs both --tls-cert and --tls-key (PEM files)")
        backend = serve_backend(
            options.serve_backend, store.settings, options.ray_address
        )  # no head: one line, nothing started
        self.store = store
        self.options = options
        self.gate = gate
        self.mounts = dict(mounts or {})
        self.metrics = metrics or default_metrics()
        # Every deployment's prediction log, under the store's home (`modelplane up` and `serve` alike).
        self.prediction_log = PredictionLog(
            store.settings.home, metrics=self.metrics, flush_s=options.log_flush_s
        )
        self.manager = ModelManager(
            store,
            metrics=self.metrics,
            poll_interval_s=options.poll_interval_s,
            prediction_log=self.prediction_log,
            backend=backend,
            memory_budget_bytes=options.memory_budget_bytes,
        )
        self.rest_socket = bind(options.host, options.port)
        self.rest_port = self.rest_socket.getsockname()[1]
        self.grpc_port: int | None = None
        self.started = threading.Event()
        self._uvicorn: uvicorn.Server | None = None

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        options = self.options
        return_large_blocks()
        await asyncio.to_thread(self.prediction_log.start)
        try:
            await self.manager.start()
        except BaseException:
            await asyncio.to_thread(self.prediction_log.close)
            raise
        freeze_startup_objects()
        repository = DeploymentRepository(self.manager)
        app: ASGIApp = create_rest_app(
            self.manager,
            metrics=self.metrics,
            max_body_bytes=options.max_body_bytes,
            gate=self.gate,
            repository=repository,
            failures=self.manager.log_failure,
        )
        if self.mounts:
            app = Mounted(app, self.mounts)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            proxy_headers=False,  # nothing reads the client's address; the middleware cost ~3% per request
            ssl_certfile=options.tls_cert,
            ssl_keyfile=options.tls_key,
        )
        self._uvicorn = uvicorn.Server(config)
        grpc_server = None
        if options.grpc_port is not None:
            tls = None
            if options.tls_cert and options.tls_key:
                tls = (options.tls_cert.read_bytes(), options.tls_key.read_bytes())
            grpc_server, self.grpc_port = await start_grpc_server(
                self.manager,
                host=options.host,
                port=options.grpc_port,
                metrics=self.metrics,
                max_message_bytes=options.max_body_bytes,
                gate=self.gate,
                tls=tls,
                repository=repository,
                failures=self.manager.log_failure,
            )
        log.info(
            "REST  %s://%s:%d/v2  (also /v1/predict, /metrics)", options.scheme, options.host, self.rest_port
        )
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
            await asyncio.to_thread(self.prediction_log.close)

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True

    def memory(self) -> dict[str, Any]:
        """The memory budget's state (read it on the plane's loop): the budget, the bytes it accounts,
        the loaded and the parked deployments, each loaded one's size, and the process's RSS."""
        return self.manager.residency.summary()

    @property
    def stopping(self) -> bool:
        """Shutting down: long-lived responses (event streams) end, so shutdown need not wait for them."""
        return self._uvicorn is not None and self._uvicorn.should_exit


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


YOUNG_COLLECTION_OBJECTS = 10_000


def freeze_startup_objects() -> None:
    """Keep the garbage collector off everything that exists once the models are loaded.

    The imports alone (torch, onnx, sklearn, FastAPI) leave ~400k tracked objects; a full collection walks
    them all (~200 ms here), and under load one came every few seconds: a 300 ms p99 at c=64. Frozen, they
    are never walked again; only what is created while serving is.

    The young generation is collected after `YOUNG_COLLECTION_OBJECTS` more containers than freed, not
    Python's 700: at c=64 the requests in flight alone hold more than 700 (their dicts, lists, futures),
    so a young collection ran ~220 times a second (2.3 % of the event loop's time, digits MLP over V2)
    and found nothing, since reference counting frees a request's objects when it ends.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_OBJECTS, middle, old)


class BackgroundDataPlane:
    """The data plane on a thread of its own: for tests and benchmarks that talk to it over sockets."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self._loop = new_event_loop()
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

    def memory(self) -> dict[str, Any]:
        """`DataPlane.memory`, read on the plane's loop from this (another) thread."""

        async def read() -> dict[str, Any]:
            return self.plane.memory()

        found: dict[str, Any] = self.run_coroutine(read())  # type: ignore[assignment]
        return found

    def stop(self, timeout_s: float = 30.0) -> None:
        self._loop.call_soon_threadsafe(self.plane.stop)
        self._thread.join(timeout_s)

    @property
    def url(self) -> str:
        return f"{self.plane.options.scheme}://{self.plane.options.host}:{self.plane.rest_port}"

    def __enter__(self) -> BackgroundDataPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
