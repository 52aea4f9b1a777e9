"""The watcher: a thread inside `modelplane up` and `modelplane worker` that fires retrain policies and
finishes canaries.

Why a poller rather than a hook in the ingest: a dataset version can be added by any process that holds the
store — the API, the CLI without a server, a script using `modelplane.Local` — and a hook would have to be
in every one of them. Polling the store sees them all, catches up on what arrived while no server ran, and
finishes canaries whose server restarted, at the cost of a few indexed queries a second (the new-data check
runs only when the dataset versions or the policies changed). Several watchers on one store are safe: every
firing and every promotion is decided by a conditional UPDATE (firings.py, rollout.py).
"""

from __future__ import annotations

import logging
import threading

from modelplane.retrain.firings import resubmit_orphans
from modelplane.retrain.rollout import promote_due
from modelplane.retrain.triggers import data_fingerprint, fire_new_data, fire_schedules
from modelplane.store import Store
from modelplane.store.orm import utcnow

log = logging.getLogger(__name__)

INTERVAL_S = 1.0


class RetrainWatcher:
    def __init__(self, store: Store, *, interval_s: float = INTERVAL_S) -> None:
        self.store = store
        self.interval_s = interval_s
        self._fingerprint: tuple[object, ...] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """One pass: new data, schedule ticks, canaries whose time is up, firings that lost their job."""
        fingerprint = data_fingerprint(self.store)
        if fingerprint != self._fingerprint:
            for firing in fire_new_data(self.store):
                log.info("retrain of %s fired (%s): job %s", firing.model, firing.reason, firing.job_id)
            self._fingerprint = fingerprint
        now = utcnow()
        for firing in fire_schedules(self.store, now):
            log.info("retrain of %s fired (%s): job %s", firing.model, firing.reason, firing.job_id)
        promote_due(self.store, now)
        resubmit_orphans(self.store, now)

    def start(self) -> RetrainWatcher:
        self._thread = threading.Thread(target=self._run, name="modelplane-retrain", daemon=True)
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
            except Exception:  # a database hiccup must not end the watcher: the next tick retries
                log.exception("retrain watcher: a tick failed; retrying")
            self._stop.wait(self.interval_s)
