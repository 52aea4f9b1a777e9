"""A worker: up to N jobs at once, each in a process of its own, under leases it claims and renews.

`modelplane up` runs one on a thread; `modelplane worker` runs one alone against the same store. Each tick it
reaps ended processes, renews leases, ends the process of a job that was cancelled (when the job did not stop
itself within the grace period) or that another worker took over, and fills free slots with claimed jobs.

Jobs run in processes, not threads: a cancel that the job's code does not obey can still end it, a crash
takes one job down rather than the server, and each job's memory goes back when it ends. Each process gets
cores // N threads, so N jobs share the cores instead of oversubscribing them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import select

from modelplane.jobs.identity import WorkerIdentity
from modelplane.jobs.kinds import KINDS
from modelplane.jobs.lease import LEASE_S, Lease, claim, end_cancelled, renew, requeue
from modelplane.jobs.spawn import job_concurrency, job_threads, start_job_process
from modelplane.jobs.views import FINISHED
from modelplane.store import Store
from modelplane.store.orm import Job

log = logging.getLogger(__name__)

TICK_S = 0.2
CANCEL_GRACE_S = 1.5
IDLE_EXIT_S = 1.0


def workers_dir(store: Store) -> Path:
    """One marker file per running worker of this home, naming its process (see `live_workers`)."""
    return store.runs_dir.parent / "workers"


def live_workers(store: Store) -> int:
    """Workers running on this home's store, as far as this machine can tell (markers of processes that
    are provably gone are removed)."""
    me, count = WorkerIdentity.current(), 0
    folder = workers_dir(store)
    for marker in folder.iterdir() if folder.is_dir() else ():
        try:
            key = marker.read_text().strip()
        except OSError:  # removed by its worker meanwhile
            continue
        if me.proves_dead(key):
            marker.unlink(missing_ok=True)
        else:
            count += 1
    return count


@dataclass(frozen=True)
class PoolOptions:
    concurrency: int | None = None  # jobs at once; None: one per usable core
    lease_s: float = LEASE_S
    cancel_grace_s: float = CANCEL_GRACE_S
    until_idle: bool = False  # exit once nothing is left to claim (a worker started for one submission)
    only: frozenset[str] | None = None  # claim only these job ids (a foreground `modelplane batch`)
    kinds: tuple[str, ...] = tuple(KINDS)

    @property
    def heartbeat_s(self) -> float:
        return self.lease_s / 6


@dataclass
class _Slot:
    lease: Lease
    process: subprocess.Popen[bytes]
    renewed: float
    cancel_seen: float | None = None
    stopped_for: str | None = None  # "cancel" or "lease": why this worker ended it


class WorkerPool:
    def __init__(
        self,
        store: Store,
        options: PoolOptions | None = None,
        *,
        spare: subprocess.Popen[bytes] | None = None,
    ) -> None:
        """`spare`: a job process the caller started already (with `start_job_process(pool.threads)`)."""
        self.store = store
        self.options = options or PoolOptions()
        self.identity = WorkerIdentity.current()
        self.concurrency = job_concurrency(self.options.concurrency)
        self.threads = job_threads(self.concurrency)
        self._slots: dict[str, _Slot] = {}
        # A job process started ahead of need: it has done its imports (~1 s) by the time a job is claimed.
        self._spare = spare
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WorkerPool:
        """Run on a thread of its own (inside `modelplane up`)."""
        self._thread = threading.Thread(target=self.run, name="modelplane-jobs", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop claiming, end running jobs' processes and queue those jobs again (they resume later)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def run(self) -> None:
        """Work until `stop` (or, with until_idle, until nothing is left to do); always leaves no process."""
        marker = workers_dir(self.store) / f"{os.getpid()}-{id(self)}"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(self.identity.key)
        try:
            self._work()
        finally:
            marker.unlink(missing_ok=True)

    def _work(self) -> None:
        log.info(
            "worker %s: %d job(s) at once, %d thread(s) each",
            self.identity.name,
            self.concurrency,
            self.threads,
        )
        idle_since: float | None = None
        if self._spare is None:
            self._spare = self._start_process()
        try:
            while not self._stop.is_set():
                try:
                    claimed = self._tick()
                except Exception:  # a database hiccup must not end the worker: the next tick retries
                    log.exception("worker %s: a tick failed; retrying", self.identity.name)
                    claimed = False
                if self.options.until_idle:
                    busy = claimed or bool(self._slots)
                    idle_since = None if busy else (idle_since or time.monotonic())
                    if idle_since is not None and time.monotonic() - idle_since >= IDLE_EXIT_S:
                        break
                self._stop.wait(TICK_S)
        finally:
            self._shutdown()

    def _tick(self) -> bool:
        self._reap()
        self._watch()
        return self._fill()

    def _reap(self) -> None:
        for job_id, slot in list(self._slots.items()):
            code = slot.process.poll()
            if code is None:
                continue
            del self._slots[job_id]
            if slot.stopped_for == "cancel":
                why = f"its process did not stop within {self.options.cancel_grace_s:g}s and was ended"
                end_cancelled(self.store, slot.lease, f"cancelled by request; {why}")
            elif slot.stopped_for is None:
                # A no-op when the job ended normally: requeue only touches a job this worker still holds.
                requeue(self.store, slot.lease, why=f"its process exited (code {code})", died=True)
            log.info("job %s: process %d exited (%s)", job_id, slot.process.pid, slot.stopped_for or code)

    def _watch(self) -> None:
        """Heartbeats, cancels and lost leases of the running jobs, from one query."""
        if not self._slots:
            return
        with self.store.db.session() as session:
            rows = {
                row.id: row
                for row in session.execute(
                    select(Job.id, Job.state, Job.lease_token, Job.cancel_requested_at).where(
                        Job.id.in_(list(self._slots))
                    )
                )
            }
        now = time.monotonic()
        for job_id, slot in self._slots.items():
            row = rows.get(job_id)
            if slot.stopped_for is not None or (row is not None and row.state in FINISHED):
                continue  # its process is on its way out
            if row is None or row.lease_token != slot.lease.token:
                self._end(slot, "lease")
                continue
            if row.cancel_requested_at is not None:
                slot.cancel_seen = slot.cancel_seen or now
                if now - slot.cancel_seen >= self.options.cancel_grace_s:
                    self._end(slot, "cancel")
                    continue
            if now - slot.renewed >= self.options.heartbeat_s:
                if renew(self.store, slot.lease, lease_s=self.options.lease_s):
                    slot.renewed = now
                else:
                    self._end(slot, "lease")

    def _end(self, slot: _Slot, why: str) -> None:
        log.warning("job %s: ending its process (%s)", slot.lease.job_id, why)
        slot.stopped_for = why
        slot.process.kill()
        slot.process.wait()

    def _fill(self) -> bool:
        claimed = False
        while len(self._slots) < self.concurrency and not self._stop.is_set():
            lease = claim(
                self.store,
                self.identity,
                kinds=self.options.kinds,
                lease_s=self.options.lease_s,
                only=self.options.only,
            )
            if lease is None:
                break
            claimed = True
            try:
                process = self._spawn(lease)
            except OSError as exc:
                requeue(self.store, lease, why=f"its process could not start ({exc})", died=True)
                continue
            self._slots[lease.job_id] = _Slot(lease, process, time.monotonic())
            log.info(
                "job %s (%s) attempt %d: process %d", lease.job_id, lease.kind, lease.attempt, process.pid
            )
        return claimed

    def _start_process(self) -> subprocess.Popen[bytes]:
        return start_job_process(self.threads)

    def _spawn(self, lease: Lease) -> subprocess.Popen[bytes]:
        """Hand `lease` to the spare process (or a new one if it is gone), then start the next spare."""
        config = {
            **self.store.handover(),
            "lease": asdict(lease),
            "threads": self.threads,
        }
        process, self._spare = self._spare, None
        if process is None or process.poll() is not None:
            process = self._start_process()
        stdin: IO[bytes] | None = process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(config).encode())
            stdin.close()
        except OSError:  # it died meanwhile: end it for sure, and let the caller requeue the job
            process.kill()
            process.wait()
            raise
        # The job is handed over: a next spare that cannot start must not reach the caller, which would
        # requeue a job that runs fine (its attempt then lost to LeaseLost, and redone in a new process).
        try:
            self._spare = self._start_process()
        except OSError as exc:
            log.warning(
                "worker %s: the next job process could not start (%s); retrying at the next job",
                self.identity.name,
                exc,
            )
        return process

    def _shutdown(self) -> None:
        if self._spare is not None:
            self._spare.kill()
            self._spare.wait()
            self._spare = None
        for slot in self._slots.values():
            if slot.process.poll() is None:
                slot.process.kill()
        for slot in self._slots.values():
            slot.process.wait()
            if slot.stopped_for == "cancel":
                end_cancelled(self.store, slot.lease, "cancelled by request; its worker stopped")
            elif slot.stopped_for is None:
                requeue(self.store, slot.lease, why=f"worker {self.identity.name} stopped", died=False)
        self._slots.clear()
