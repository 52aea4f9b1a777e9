"""A Rich bar over a study's trials: done / budget, pruned and failed counts, best value so far."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modelplane.tuning.plan import StudyPlan
from modelplane.tuning.storage import trials_used


class StudyProgress:
    """Reads the study from its storage on `refresh`, so it shows trials of worker processes too."""

    def __init__(self, study: optuna.Study, plan: StudyPlan, *, enabled: bool) -> None:
        self.study, self.plan, self.enabled = study, plan, enabled
        self.progress = Progress(
            TextColumn(f"[bold]tune {plan.name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[summary]}"),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self.task = self.progress.add_task("tune", total=plan.config.trials, summary="")

    def __enter__(self) -> StudyProgress:
        self.progress.start()
        self.refresh()
        return self

    def __exit__(self, *exc: object) -> None:
        self.refresh()
        self.progress.stop()

    def refresh(self) -> None:
        if not self.enabled:
            return
        trials = self.study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        pick = max if self.plan.direction == "maximize" else min
        best = pick(done, key=lambda t: t.value or 0.0) if done else None
        pruned = sum(t.state == TrialState.PRUNED for t in trials)
        failed = sum(t.state == TrialState.FAIL for t in trials)
        summary = f"pruned {pruned}" + (f" failed {failed}" if failed else "")
        if best is not None:
            summary = f"best {self.plan.objective.name} {best.value:.4f} (trial {best.number})  " + summary
        self.progress.update(self.task, completed=trials_used(trials), summary=summary)
