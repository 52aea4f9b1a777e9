"""`modelplane up`: the embedded platform in one process — control plane, data plane (REST and gRPC),
metrics, API keys, limits and metering — on one store."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from modelplane.api.app import create_control_app
from modelplane.api.deps import ControlState
from modelplane.api.gate import PlatformGate
from modelplane.api.routers.events import StreamSettings
from modelplane.config import Settings
from modelplane.console.app import create_console_app
from modelplane.console.live import LiveSampler, ServedDeployments
from modelplane.console.sessions import DEFAULT_IDLE_S, Sessions
from modelplane.console.web import ConsoleState
from modelplane.data.uploads import Uploads
from modelplane.events.dispatch import Dispatcher, DispatchOptions
from modelplane.jobs.pool import PoolOptions, WorkerPool
from modelplane.monitoring.gauges import MonitorCollector
from modelplane.monitoring.scheduler import MonitorScheduler
from modelplane.retrain.watcher import RetrainWatcher
from modelplane.security.keys import Authenticator, ensure_admin_key
from modelplane.security.limits import Limiter
from modelplane.security.metering import Meter
from modelplane.serving.deployments import DeploymentSpec
from modelplane.serving.metrics import default_metrics
from modelplane.serving.server import DataPlane, ServeOptions
from modelplane.store import Store

log = logging.getLogger(__name__)

CONTROL_PREFIXES = ("/api", "/ajax-api", "/docs", "/openapi.json")
CONSOLE_PREFIXES = ("/ui", "/")  # "/" matches the root alone (Mounted tests `path == prefix` or prefix + "/")


@dataclass
class PlatformOptions:
    auth: bool = True
    meter_interval_s: float = 1.0
    max_upload_bytes: int = 20 * 2**30
    job_workers: int | None = None  # jobs run at once (training, batch prediction); None: one per core
    public_docs: bool = False  # /docs and /openapi.json without a key
    webhooks: DispatchOptions = field(default_factory=DispatchOptions)  # delivery timeout, retries
    console_idle_s: float = DEFAULT_IDLE_S  # a console session ends after this long without a request


class PlatformServer:
    """Builds every part on one store; `run` serves (and runs jobs and the retrain watcher) until stopped,
    then stops the jobs' processes (their jobs resume at the next start) and flushes usage."""

    def __init__(
        self, settings: Settings, serve: ServeOptions, options: PlatformOptions | None = None
    ) -> None:
        self.options = options or PlatformOptions()
        self._loop: asyncio.AbstractEventLoop | None = None  # the data plane's, once it runs
        self.store = Store.from_settings(settings)
        self.admin_key = ensure_admin_key(self.store) if self.options.auth else None
        limiter = Limiter(self.store)
        self.meter = Meter(self.store, interval_s=self.options.meter_interval_s, limiter=limiter)
        authenticator = Authenticator(self.store) if self.options.auth else None
        self.gate = PlatformGate(authenticator, limiter, self.meter)
        self.jobs = WorkerPool(self.store, PoolOptions(concurrency=self.options.job_workers))
        self.retrain = RetrainWatcher(self.store)
        self.monitor = MonitorScheduler(self.store)
        self.events = Dispatcher(self.store, self.options.webhooks)
        uploads = Uploads(settings.home / "uploads", max_bytes=self.options.max_upload_bytes)
        control_state = ControlState(self.store, self.gate, uploads)
        if serve.memory_budget_bytes is not None:
            control_state.admit = self._admit
        control = create_control_app(control_state, public_docs=self.options.public_docs)
        metrics = default_metrics()
        console_state = ConsoleState(
            self.store,
            self.gate,
            Sessions(self.store, idle_s=self.options.console_idle_s),
            LiveSampler(metrics),
        )
        console = create_console_app(console_state)
        self.plane = DataPlane(
            self.store,
            serve,
            metrics,
            gate=self.gate if self.options.auth else None,
            mounts={**dict.fromkeys(CONTROL_PREFIXES, control), **dict.fromkeys(CONSOLE_PREFIXES, console)},
        )
        console_state.served = ServedDeployments(self.plane.manager)
        control.state.event_stream = StreamSettings(stopping=lambda: self.plane.stopping)
        control.state.prediction_log = self.plane.prediction_log  # feedback flushes it first
        self.plane.metrics.registry.register(MonitorCollector(self.store))

    @property
    def url(self) -> str:
        options = self.plane.options
        return f"{options.scheme}://{options.host}:{self.plane.rest_port}"

    def _admit(self, name: str, spec: DeploymentSpec) -> None:
        """Refuse, at deploy, a deployment larger than the data plane's memory budget (measured on the
        plane's loop, under its load lock; called from the control plane's request threads)."""
        if self._loop is None:
            return  # not serving yet: the data plane refuses it at load instead
        measure = self.plane.manager.residency.measure(name, spec)
        asyncio.run_coroutine_threadsafe(measure, self._loop).result()

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        self._loop = asyncio.get_running_loop()
        if not self.options.auth:
            log.warning("AUTH IS OFF (--no-auth): anyone who reaches %s may do anything", self.url)
        self.meter.start()
        self.jobs.start()
        self.retrain.start()
        self.monitor.start()
        self.events.start()
        try:
            await self.plane.run(install_signal_handlers=install_signal_handlers)
        finally:
            self.events.stop()  # deliveries still owed are sent by the next server (state in the store)
            self.monitor.stop()  # the schedule is in the store: the next server keeps it
            self.retrain.stop()  # a canary under way is finished by the next watcher (state in the store)
            self.jobs.stop()  # running jobs are queued again and resume from their checkpoints
            self.meter.close()
            self.store.close()

    def stop(self) -> None:
        self.plane.stop()
