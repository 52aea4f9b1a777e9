"""Where a request goes inside one deployment: primary, canary split, shadow copy, or an ensemble."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from dataclasses import dataclass, field

import numpy as np

from modelplane.errors import NotFound
from modelplane.serving.loaded import LoadedVersion
from modelplane.serving.types import ModelMeta
from modelplane.tables.signature import TableSignature

log = logging.getLogger(__name__)


def canary_bucket(request_id: str | None) -> float:
    """A request id always lands in the same bucket in [0, 100); no id means a random one."""
    if request_id is None:
        return random.random() * 100
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100


def combine(
    task: str, how: str, weights: list[float], outputs: list[dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Ensemble outputs: mean or weighted mean of probabilities/predictions, or a majority vote of labels."""
    w = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    if task == "regression":
        stacked = np.stack([o["prediction"] for o in outputs])
        return {"prediction": np.tensordot(w, stacked, axes=1).astype(np.float32)}
    probabilities = np.tensordot(w, np.stack([o["probabilities"] for o in outputs]), axes=1).astype(
        np.float32
    )
    if how != "vote":
        return {"label": probabilities.argmax(axis=1).astype(np.int64), "probabilities": probabilities}
    votes = np.zeros_like(probabilities)
    rows = np.arange(len(probabilities))
    for member in outputs:
        votes[rows, member["label"]] += 1
    # Ties go to the class with the higher mean probability.
    label = (votes + probabilities / 2).argmax(axis=1).astype(np.int64)
    return {"label": label, "probabilities": probabilities}


@dataclass
class Route:
    """An immutable routing table; a hot swap replaces the whole object in one assignment."""

    name: str
    key: tuple[object, ...]
    meta: ModelMeta
    task: str
    primary: LoadedVersion | None = None
    canary: LoadedVersion | None = None
    canary_percent: float = 0.0
    shadow: LoadedVersion | None = None
    members: list[LoadedVersion] = field(default_factory=list)
    combine: str = "mean"
    weights: list[float] = field(default_factory=list)
    version: str = ""
    table: TableSignature | None = None  # the named columns requests are matched to (None: one tensor)
    column_names: frozenset[str] = frozenset()  # the table's names, for a per-request membership test
    takes_rows: bool = False  # some version reads structured rows: requests become rows, not a matrix
    class_names: np.ndarray | None = None  # what `label` holds, by class index
    log_sample: float = 0.0  # the share of requests the prediction log records (0: off)
    # class_names for the log, made once; a tuple of str, so the garbage collector can stop tracking the
    # log records that hold it (a list would keep each one tracked while it waits to be written)
    log_classes: tuple[str, ...] = ()
    _shadow_tasks: set[asyncio.Task[object]] = field(default_factory=set)

    def loaded(self) -> list[LoadedVersion]:
        return [v for v in (self.primary, self.canary, self.shadow, *self.members) if v is not None]

    def check_room(self) -> None:
        """Unavailable when a version a request could go to has a full queue (shadows do not count)."""
        for loaded in (self.primary, self.canary, *self.members):
            if loaded is not None:
                loaded.batcher.check_room()

    def _by_version(self, version: str) -> LoadedVersion:
        for loaded in (self.primary, self.canary):
            if loaded is not None and loaded.version == version:
                return loaded
        raise NotFound(
            f"deployment '{self.name}' does not serve version {version}; it serves "
            f"{', '.join(self.meta.versions)}"
        )

    async def infer(self, x: np.ndarray, request_id: str | None, version: str | None) -> tuple[str, dict]:
        """Returns (version that answered, outputs). No await between choosing and enqueueing, so a
        concurrent hot swap never hands a request to a version that is already draining."""
        if self.members:
            if version not in (None, "", self.version):
                raise NotFound(f"ensemble '{self.name}' is version {self.version}, not {version}")
            results = await asyncio.gather(*(m.predict(x) for m in self.members))
            return self.version, combine(self.task, self.combine, self.weights, list(results))
        if version:
            target = self._by_version(version)
        elif self.canary is not None and canary_bucket(request_id) < self.canary_percent:
            target = self.canary
        else:
            assert self.primary is not None
            target = self.primary
        if self.shadow is not None:
            self._mirror(x)
        return target.version, await target.predict(x)

    def _mirror(self, x: np.ndarray) -> None:
        assert self.shadow is not None
        task = asyncio.ensure_future(self.shadow.predict(x))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_done)

    def _shadow_done(self, task: asyncio.Task[object]) -> None:
        self._shadow_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "shadow %s of %s failed: %s",
                self.shadow.info.ref if self.shadow else "?",
                self.name,
                task.exception(),
            )
