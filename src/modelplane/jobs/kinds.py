"""The kinds of job workers run. Adding one (tune, retrain) is one line in KINDS plus its module.

A kind is imported only where a job of it runs or ends, so a worker that never trains never imports torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelplane.errors import Invalid
from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.jobs.context import JobContext
    from modelplane.jobs.views import JobInfo


class JobKind(Protocol):
    def run(self, ctx: JobContext) -> dict[str, Any]:
        """Do the work (resuming from ctx.checkpoint) and return the job's result (JSON)."""
        ...

    def cleanup(self, store: Store, job: JobInfo) -> None:
        """Undo what a job that ended cancelled or failed left behind (temp files, a run marked running).
        Runs in whichever process ends the job, possibly more than once: it must be idempotent."""
        ...


# name -> "module:attribute" of its JobKind.
KINDS: dict[str, str] = {
    "train": "modelplane.jobs.train:KIND",
    "batch": "modelplane.jobs.batch.kind:KIND",
    "retrain": "modelplane.retrain.kind:KIND",
    "tune": "modelplane.jobs.tune:KIND",
    "compress": "modelplane.jobs.compress:KIND",
    "monitor": "modelplane.monitoring.job:KIND",
}


def get_kind(name: str) -> JobKind:
    if name not in KINDS:
        raise Invalid(f"unknown job kind {name!r}; the kinds are {', '.join(sorted(KINDS))}")
    module, _, attribute = KINDS[name].partition(":")
    kind: JobKind = getattr(importlib.import_module(module), attribute)
    return kind


def job_dir(store: Store, job_id: str) -> Path:
    """A job's scratch folder (batch part files; outputs of batches submitted over the API)."""
    return store.runs_dir.parent / "jobs" / job_id
