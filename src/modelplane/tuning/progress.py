"""A study's progress read from its storage: trials used against the budget, pruned and failed counts, the
best value so far. Data for whoever shows it (the CLI draws a bar from it)."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from modelplane.tuning.plan import StudyPlan
from modelplane.tuning.storage import trials_used
from modelplane.tuning.views import StudyProgress


def study_progress(study: optuna.Study, plan: StudyPlan) -> StudyProgress:
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    pick = max if plan.direction == "maximize" else min
    best = pick(done, key=lambda t: t.value or 0.0) if done else None
    return StudyProgress(
        used=trials_used(trials),
        budget=plan.config.trials,
        metric=plan.objective.name,
        best_value=None if best is None else best.value,
        best_trial=None if best is None else best.number,
        pruned=sum(t.state == TrialState.PRUNED for t in trials),
        failed=sum(t.state == TrialState.FAIL for t in trials),
    )
