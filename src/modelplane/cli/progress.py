"""Progress bars on stderr, drawn from the platform's callbacks (`on_epoch`, `on_trial`), the same way for
in-process work and for a server's jobs. A bar shows from its first update, so a request refused before any
work began (a bad config, a quantisation with no epochs) draws none."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modelplane.cli.output import err_console
from modelplane.tuning.views import StudyProgress

B = TypeVar("B", bound="_Bar")


class _Bar:
    """One task of `done / total` units (total None: not known) with a line of detail beside it."""

    def __init__(self, title: str, *, total: int | None, quiet: bool) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}"),
            console=err_console,
            disable=quiet,
        )
        self.task = self.progress.add_task(title, total=total, detail="")
        self.started = False

    def __enter__(self: B) -> B:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.started:
            self.progress.stop()

    def show(self, done: float, detail: str = "") -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        self.progress.update(self.task, completed=done, detail=detail)


class EpochBar(_Bar):
    """Epochs with the latest training and validation metrics: pass `epoch` as `on_epoch`."""

    def epoch(self, metrics: dict[str, float]) -> None:
        shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k.startswith(("train_", "val_")))
        self.show(metrics["epoch"], shown)


class TrialBar(_Bar):
    """Trials of a study used so far, with the best value and the pruned and failed counts where they are
    known (in-process): pass `trial` as `on_trial`."""

    def trial(self, progress: StudyProgress) -> None:
        summary = f"pruned {progress.pruned}" + (f" failed {progress.failed}" if progress.failed else "")
        if progress.best_value is not None:
            best = f"best {progress.metric} {progress.best_value:.4f} (trial {progress.best_trial})"
            summary = f"{best}  {summary}"
        self.show(progress.used, summary if progress.metric is not None else "")
