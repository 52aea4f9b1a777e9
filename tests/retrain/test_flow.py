"""The policy's paths in-process: new data -> job -> gate -> staging -> canary -> production; a failed gate
and a retrain without new rows, which change nothing and say why; a scikit-learn model refitted from
scratch."""

from __future__ import annotations

from pathlib import Path

from modelplane.data.ingest import IngestOptions, add_dataset
from modelplane.jobs.queue import get_job, list_jobs
from modelplane.registry.registry import get_model, get_version
from modelplane.retrain.firings import trigger_now
from modelplane.retrain.policies import FROM_SCRATCH, WARM_START, get_policy, set_policy
from modelplane.retrain.views import FiringInfo
from modelplane.retrain.watcher import RetrainWatcher
from modelplane.security.audit import log
from modelplane.serving.deployments import get_deployment, parse_spec, save_deployment
from tests.jobs.conftest import run_inline, until
from tests.retrain.conftest import MLP, MODEL, World, train


def _firing(world: World, model: str = MODEL) -> FiringInfo:
    return get_policy(world.store, model).history[0]


def _ticked_to(watcher: RetrainWatcher, world: World, state: str) -> bool:
    watcher.tick()
    return _firing(world).state == state


def test_new_data_retrains_then_canaries_then_promotes(world: World) -> None:
    store = world.store
    policy = set_policy(
        store, MODEL, data="digits", gate="accuracy>=production-0.05", canary="10:1s", epochs=2, by="alice"
    )
    assert policy.method == WARM_START and policy.last_seen_dataset == "digits@1" and policy.canary == "10:1s"
    watcher = RetrainWatcher(store)
    watcher.tick()
    assert get_policy(store, MODEL).history == []  # data already there when the policy was set does not fire

    world.append()
    watcher.tick()
    watcher.tick()
    [job] = list_jobs(store, kind="retrain")
    firing = _firing(world)
    assert (firing.trigger, firing.dataset, firing.job_id, firing.state) == (
        "new-data",
        "digits@2",
        job.id,
        "queued",
    )

    assert run_inline(store, job.id).state == "succeeded"
    firing = _firing(world)
    assert firing.state == "canary" and firing.candidate == f"{MODEL}@2", firing.detail
    assert firing.result["gate"]["passed"] and firing.result["rows"]["new"] == 200
    assert 0 < firing.result["rows"]["fit"] < 0.7 * 1200  # new rows plus a replay sample, not everything
    staged = get_version(store, f"{MODEL}@staging")
    assert staged.ref == f"{MODEL}@2" and get_version(store, f"{MODEL}@production").ref == MLP
    assert (staged.parent, staged.dataset) == (MLP, "digits@2")
    assert staged.params["retrain"]["method"] == "warm-start fine-tune"
    assert staged.params["retrain"]["firing"] == firing.id and staged.params["retrain"]["policy"] == MODEL
    canary = get_deployment(store, MODEL).spec.canary
    assert canary is not None and (canary.model, canary.percent) == (f"{MODEL}@2", 10)

    restarted = RetrainWatcher(store)  # the canary's state is in the store: any watcher finishes it
    until(lambda: _ticked_to(restarted, world, "promoted"), timeout_s=15, what="the promotion")
    assert get_version(store, f"{MODEL}@production").ref == f"{MODEL}@2"
    assert get_deployment(store, MODEL).spec.canary is None
    assert "production moved from digits-mlp@1 to digits-mlp@2" in str(_firing(world).detail)
    actions = [entry.action for entry in reversed(log(store, limit=200))]
    actions = actions[actions.index("retrain.fired") :]
    steps = [
        "retrain.fired",
        "retrain.started",
        "retrain.gate.passed",
        "model.version.registered",
        "retrain.canary.started",
        "retrain.promoted",
    ]
    assert [a for a in actions if a in steps] == steps
    assert actions.count("deployment.saved") == 2  # canary added, canary removed


def test_a_failed_gate_changes_nothing_and_says_why(world: World) -> None:
    store = world.store
    set_policy(store, MODEL, data="digits", gate="accuracy>=production+0.5", canary="10:1s", epochs=1)
    before = get_deployment(store, MODEL)
    world.append()
    RetrainWatcher(store).tick()
    firing = _firing(world)
    assert run_inline(store, firing.job_id).state == "succeeded"
    firing = _firing(world)
    assert firing.state == "gate-failed" and firing.candidate is None
    assert "accuracy" in str(firing.detail) and "failed" in str(firing.detail)
    assert f"nothing changed, {MLP} stays production" in str(firing.detail)
    model = get_model(store, MODEL)
    assert [v.version for v in model.versions] == [1] and model.aliases == {"production": 1}
    assert get_deployment(store, MODEL) == before
    assert "retrain.gate.failed" in [entry.action for entry in log(store, limit=20)]


def test_retraining_without_new_rows_is_a_recorded_no_op(world: World) -> None:
    store = world.store
    set_policy(store, MODEL, data="digits", on="manual")
    firing = trigger_now(store, MODEL, by="bob")
    assert firing.trigger == "manual" and firing.reason == "run by bob on digits@1"
    job = run_inline(store, firing.job_id)
    assert job.state == "succeeded" and job.result and job.result["state"] == "no-op"
    firing = _firing(world)
    assert firing.state == "no-op"
    assert firing.detail == f"digits@1 is the data {MLP} was trained on: no new rows"
    assert [v.version for v in get_model(store, MODEL).versions] == [1]


def test_new_rows_with_none_to_train_on_are_a_recorded_no_op(world: World, tmp_path: Path) -> None:
    """One appended row that the split puts outside training: nothing to fine-tune on, so nothing changes."""
    store = world.store
    set_policy(store, MODEL, data="digits", on="manual")
    header, first, *_ = world.more.read_text().splitlines()
    one_row = tmp_path / "one.csv"
    one_row.write_text(f"{header}\n{first}\n")
    add_dataset(store, "digits", str(one_row), IngestOptions(target="label", append=True), by="test")
    job = run_inline(store, trigger_now(store, MODEL, by="bob").job_id)
    assert job.state == "succeeded" and job.result and job.result["state"] == "no-op"
    firing = _firing(world)
    assert firing.state == "no-op" and firing.detail is not None
    assert firing.detail.startswith("the 1 new row(s) all fell in the validation and test splits")
    assert [v.version for v in get_model(store, MODEL).versions] == [1]


def test_a_scikit_learn_model_is_refitted_from_scratch(world: World) -> None:
    store = world.store
    ref = train(store, model="logreg")
    policy = set_policy(store, "digits-logreg", data="digits", gate="accuracy>=production-0.05")
    assert policy.method == FROM_SCRATCH and "from scratch" in policy.method
    world.append()
    RetrainWatcher(store).tick()
    firing = _firing(world, "digits-logreg")
    assert get_job(store, firing.job_id).state == "queued"
    assert run_inline(store, firing.job_id).state == "succeeded"
    firing = _firing(world, "digits-logreg")
    assert firing.state == "promoted", firing.detail  # no canary in this policy: production moves at once
    assert (
        firing.result["rows"]["fit"]
        == firing.result["rows"]["new_train"] + firing.result["rows"]["old_train"]
    )
    production = get_version(store, "digits-logreg@production")
    assert production.parent == ref and production.params["retrain"]["method"] == "refit from scratch"


def test_taking_the_canary_off_by_hand_aborts_the_rollout(world: World) -> None:
    store = world.store
    set_policy(store, MODEL, data="digits", gate="accuracy>=0", canary="10:1s", epochs=1)
    world.append()
    watcher = RetrainWatcher(store)
    watcher.tick()
    assert run_inline(store, _firing(world).job_id).state == "succeeded"
    assert _firing(world).state == "canary"
    save_deployment(store, parse_spec({"model": f"{MODEL}@production"}), by="carol")  # no canary
    until(lambda: _ticked_to(watcher, world, "aborted"), timeout_s=15, what="the abort")
    assert "was taken off digits-mlp before it ended; production stays at digits-mlp@1" in str(
        _firing(world).detail
    )
    assert get_model(store, MODEL).aliases == {"production": 1, "staging": 2}
