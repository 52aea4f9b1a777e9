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

from modelplane.retrain.firings import resubmit_orphans
from modelplane.retrain.rollout import promote_due
from modelplane.retrain.triggers import data_fingerprint, fire_new_data, fire_schedules
from modelplane.store import Store
from modelplane.store.orm import utcnow
from modelplane.ticker import Ticker

log = logging.getLogger(__name__)

INTERVAL_S = 1.0


class RetrainWatcher(Ticker):
    name = "modelplane-retrain"

    def __init__(self, store: Store, *, interval_s: float = INTERVAL_S) -> None:
        super().__init__(interval_s)
        self.store = store
        self._fingerprint: tuple[object, ...] | None = None

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
