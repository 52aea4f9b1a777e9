"""The replica processes of one model version, used by its batcher as if they were one runtime.

`predict` is what the batcher calls from its executor threads: it takes an idle replica, sends it the
batch and waits for the answer (the GIL is free while it waits). The batcher runs at most as many batches
at once as there are replicas (`on_count` tells it), so an idle replica is there when a batch starts.
`resize` starts replicas (loaded and warmed before they take a batch) or stops idle ones; a replica that
dies is replaced, and the batch it held is computed again on another one (inference has no side effects).
"""

from __future__ import annotations

import logging
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from modelplane import errors
from modelplane.errors import Invalid, ModelplaneError, Unavailable
from modelplane.serving.replicas import frames

log = logging.getLogger(__name__)
Outputs = dict[str, np.ndarray]
_STOP_S = 5.0


class ReplicaFailed(RuntimeError):
    """The runtime in a replica raised an error that is not one of modelplane's typed errors (a 500)."""


def raise_reported(header: dict[str, Any]) -> NoReturn:
    """Raise the error a replica reported (`worker.error_header`): typed as it was raised, when it was one
    of modelplane's errors, else `ReplicaFailed`."""
    kind = getattr(errors, header.get("kind") or "", None)
    if isinstance(kind, type) and issubclass(kind, ModelplaneError):
        raise kind(header["error"])
    raise ReplicaFailed(header["error"])


class Replica:
    """One replica process and the server's end of its socket."""

    def __init__(self, setup: dict[str, Any], load_timeout_s: float) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelplane.serving.replicas.worker", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.sock = ours
        try:
            ours.settimeout(load_timeout_s)
            frames.send(ours, setup)
            ready, _ = frames.receive(ours)
            ours.settimeout(None)
        except (OSError, frames.ReplicaGone) as exc:
            self.stop()
            raise Invalid(f"a replica of {setup['ref']} did not start: {exc}") from None
        if "error" in ready:
            self.stop()
            raise Invalid(f"{setup['ref']} cannot be served: {ready['error']}")
        self.platform: str = ready["platform"]

    @property
    def pid(self) -> int:
        return self.process.pid

    def call(self, x: np.ndarray) -> Outputs:
        frames.send(self.sock, {}, {"x": x})
        header, outputs = frames.receive(self.sock)
        if "error" in header:
            raise_reported(header)
        return outputs

    def stop(self) -> None:
        """Close the socket (the replica exits when it sees the end) and reap the process."""
        self.sock.close()
        try:
            self.process.wait(_STOP_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ReplicaPool:
    """Replicas of one version; thread-safe. `on_count(n)` is called with the number of replicas that may
    take batches whenever it changes (from whichever thread changed it)."""

    def __init__(
        self,
        setup: dict[str, Any],
        *,
        timeout_s: float,
        load_timeout_s: float = 120.0,
        on_count: Callable[[int], None] | None = None,
    ) -> None:
        self.setup = setup
        self.ref: str = setup["ref"]
        self._timeout = timeout_s
        self._load_timeout = load_timeout_s
        self._on_count = on_count or (lambda n: None)
        self._idle: queue.Queue[Replica] = queue.Queue()
        self._replicas: list[Replica] = []
        self._lock = threading.Lock()  # _replicas
        self._resizing = threading.Lock()  # one resize at a time
        self._closed = False

    @property
    def count(self) -> int:
        return len(self._replicas)

    @property
    def platform(self) -> str:
        return self._replicas[0].platform if self._replicas else ""

    def resident_bytes(self) -> int:
        """The replicas' resident memory now, as the operating system counts it."""
        import psutil

        total = 0
        for replica in list(self._replicas):
            try:
                total += psutil.Process(replica.pid).memory_info().rss
            except psutil.Error:  # it just exited
                continue
        return total

    def pids(self) -> list[int]:
        return [r.pid for r in self._replicas]

    def resize(self, count: int) -> int:
        """Blocking: start or stop replicas until `count` run; returns the count before. New replicas take
        batches only once loaded and warmed; stopped ones finish their batch first."""
        with self._resizing:
            before = len(self._replicas)
            if count > before:
                self._grow(count - before)
            while len(self._replicas) > count and not self._closed:
                self._on_count(len(self._replicas) - 1)  # the batcher stops using one first
                replica = self._idle.get()
                with self._lock:
                    self._replicas.remove(replica)
                replica.stop()
            return before

    def _grow(self, more: int) -> None:
        started: list[Replica] = []
        errors_seen: list[Exception] = []

        def start() -> None:
            try:
                started.append(Replica(self.setup, self._load_timeout))
            except Exception as exc:  # reported below, after the others started
                errors_seen.append(exc)

        threads = [threading.Thread(target=start, name=f"replica-start-{self.ref}") for _ in range(more)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for replica in started:
            if self._closed:
                replica.stop()
                continue
            with self._lock:
                self._replicas.append(replica)
            self._idle.put(replica)
            self._on_count(len(self._replicas))
        if errors_seen:
            raise errors_seen[0]

    def predict(self, x: np.ndarray) -> Outputs:
        """Run one batch on an idle replica (the batcher's executor threads call this)."""
        for attempt in range(2):
            try:
                replica = self._idle.get(timeout=self._timeout)
            except queue.Empty:
                raise Unavailable(
                    f"no replica of {self.ref} became free in {self._timeout:g}s; retry"
                ) from None
            try:
                outputs = replica.call(x)
            except (frames.ReplicaGone, OSError) as exc:
                self._lost(replica, exc)
                if attempt:
                    raise Unavailable(f"replicas of {self.ref} exited while computing; retry") from None
                continue
            except Exception:
                self._idle.put(replica)
                raise
            self._idle.put(replica)
            return outputs
        raise AssertionError("unreachable")

    def _lost(self, replica: Replica, why: Exception) -> None:
        """A replica died under a batch: forget it and start another in the background."""
        log.error("a replica of %s (pid %d) exited: %s; starting another", self.ref, replica.pid, why)
        with self._lock:
            if replica not in self._replicas:
                return
            self._replicas.remove(replica)
            count = len(self._replicas)
        self._on_count(count)
        replica.stop()
        if not self._closed:
            threading.Thread(target=self._replace, name=f"replica-replace-{self.ref}", daemon=True).start()

    def _replace(self) -> None:
        try:
            with self._resizing:
                self._grow(1)
        except ModelplaneError as exc:
            log.error("could not replace a replica of %s: %s", self.ref, exc)

    def close(self) -> None:
        """Blocking: stop every replica (the batcher has drained: they are idle)."""
        self._closed = True
        with self._lock:
            replicas, self._replicas = self._replicas, []
        self._on_count(0)
        for replica in replicas:  # every socket first: the replicas exit together, not one after another
            replica.sock.close()
        for replica in replicas:
            replica.stop()
