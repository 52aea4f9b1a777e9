"""The one thing the run code needs from data-parallel training, kept apart so that importing it loads no
launcher (the single-process path imports nothing extra)."""

from __future__ import annotations


class RankLost(BaseException):
    """A training rank died before the fit ended: the fit resumes from its last checkpoint, not fails.

    A BaseException, like KeyboardInterrupt, so no `except Exception` records it as a failure: the run is
    marked interrupted and, in a job, the process exits unfinished and its worker requeues the job.
    """
