"""A background thread that does one pass of some work every few seconds until stopped: what the retrain
watcher and the monitor scheduler are. A pass that fails (a database hiccup) is logged and the next one
retries, so the thread never ends early."""

from __future__ import annotations

import logging
import threading
from typing import Self

log = logging.getLogger(__name__)


class Ticker:
    """Subclasses set `name` (the thread's) and implement `tick`."""

    name = "modelplane-ticker"

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the next pass retries; the thread must outlive any one failure
                log.exception("%s: a pass failed; retrying", self.name)
            self._stop.wait(self.interval_s)
