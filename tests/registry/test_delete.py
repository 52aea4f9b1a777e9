"""Deleting versions and models: refused (409, naming the holder and the way out) while an alias, a child,
a deployment (by number, alias or bare name), a job or a retrain policy holds them; retention per model."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.jobs.queue import cancel_job, enqueue
from modelplane.registry.deletion import delete_model, delete_version
from modelplane.registry.registry import (
    NewVersion,
    get_model,
    get_version,
    list_models,
    register,
    set_alias,
    version_id,
)
from modelplane.registry.retention import set_retention
from modelplane.security.audit import log
from modelplane.serving.deployments import delete_deployment, parse_spec, save_deployment
from modelplane.store import Store
from modelplane.store.orm import ModelVersion, RetrainPolicy


def _register(store: Store, tmp_path: Path, name: str = "m", *, parent: str | None = None) -> str:
    weights = tmp_path / "w.bin"
    weights.write_bytes(uuid.uuid4().bytes + bytes(64))  # each version its own file
    return register(
        store,
        NewVersion(
            model_name=name,
            task="classification",
            framework="torch",
            kind="mlp",
            spec={"kind": "mlp", "input_shape": [4]},
            weights_path=weights,
            params={},
            metrics={},
            classes=["a", "b"],
            parent_version_id=version_id(store, parent) if parent else None,
        ),
        by="alice",
    ).ref


def _actions(store: Store) -> list[str]:
    return [r.action for r in log(store, limit=50)]


@pytest.mark.parametrize("served", ["m@2", "m@live", "m"])
def test_a_deployed_version_cannot_be_deleted_by_any_ref(store: Store, tmp_path: Path, served: str) -> None:
    _register(store, tmp_path)
    _register(store, tmp_path)
    if served == "m@live":
        set_alias(store, "m@2", "live")
    save_deployment(store, parse_spec({"model": served}), name="web")
    with pytest.raises(Conflict, match=r"deployment 'web' serves it .*deployments undeploy web"):
        delete_version(store, "m@2")
    assert get_version(store, "m@2").version == 2
    delete_version(store, "m@1")  # not served: goes
    delete_deployment(store, "web")
    if served == "m@live":
        with pytest.raises(Conflict, match="alias live"):
            delete_version(store, "m@2")
        return
    delete_version(store, "m@2")
    with pytest.raises(NotFound):
        get_version(store, "m@2")


def test_canary_shadow_and_ensemble_members_hold_their_versions(store: Store, tmp_path: Path) -> None:
    for _ in range(4):
        _register(store, tmp_path)
    save_deployment(
        store,
        parse_spec({"model": "m@1", "canary": {"model": "m@2", "percent": 10}, "shadow": "m@3"}),
        name="a",
    )
    save_deployment(store, parse_spec({"ensemble": {"members": ["m@3", "m@4"]}}), name="b")
    for ref, deployment in (("m@2", "a"), ("m@3", "a"), ("m@4", "b")):
        with pytest.raises(Conflict, match=f"deployment '{deployment}'"):
            delete_version(store, ref)


def test_a_queued_job_holds_what_it_reads_until_it_ends(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)
    _register(store, tmp_path)
    job = enqueue(store, "compress", {"ref": "m@1", "request": {}}, by="t")
    batch = enqueue(store, "batch", {"deployment": {"versions": ["m@2"]}}, by="t")
    with pytest.raises(Conflict, match=rf"queued compress job {job.id} reads it .*jobs cancel {job.id}"):
        delete_version(store, "m@1")
    with pytest.raises(Conflict, match=f"batch job {batch.id}"):
        delete_version(store, "m@2")
    cancel_job(store, job.id, by="t")
    delete_version(store, "m@1")


def test_delete_needs_a_number_and_an_existing_version(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)
    with pytest.raises(Invalid, match="by number"):
        delete_version(store, "m")
    with pytest.raises(NotFound):
        delete_version(store, "m@7")
    with pytest.raises(NotFound, match="models list"):
        delete_model(store, "nope")


def test_delete_model_goes_whole_and_the_name_numbers_on(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)
    _register(store, tmp_path)
    set_alias(store, "m@2", "production")
    assert delete_model(store, "m", by="bob") == 2
    assert [m.name for m in list_models(store)] == []
    with pytest.raises(NotFound):
        get_model(store, "m")
    with pytest.raises(NotFound):
        get_version(store, "m@production")
    assert _actions(store)[:4] == ["model.deleted", *["model.version.deleted"] * 2, "model.alias.moved"]
    assert _register(store, tmp_path) == "m@3"  # m@1 never means two different models
    assert get_model(store, "m").aliases == {}


def test_delete_model_refused_while_held_from_outside(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)
    _register(store, tmp_path, "other", parent="m@1")
    save_deployment(store, parse_spec({"model": "m"}), name="web")
    with store.db.session() as session:
        session.add(RetrainPolicy(model="m", dataset="d", trigger="data", gate="", replay=0.0, epochs=1))
    with pytest.raises(Conflict) as refused:
        delete_model(store, "m")
    message = str(refused.value)
    assert "deployment 'web'" in message and "parent of other@1" in message and "retrain policy" in message
    assert "--force overrides only child versions" in message
    with pytest.raises(Conflict, match="deployment 'web'"):
        delete_model(store, "m", force=True)  # never a deployment
    delete_deployment(store, "web")
    job = enqueue(store, "compress", {"ref": "m@1", "request": {}}, by="t")
    with pytest.raises(Conflict, match=f"compress job {job.id}"):
        delete_model(store, "m", force=True)  # never a job
    cancel_job(store, job.id, by="t")
    delete_model(store, "m", force=True)
    assert get_version(store, "other@1").version == 1  # the child keeps its lineage row
    with store.db.session() as session:
        assert session.scalar(select(RetrainPolicy)) is None
        assert session.scalar(select(ModelVersion).where(ModelVersion.version == 1)) is not None


def test_retention_keeps_the_last_n_and_what_is_held(store: Store, tmp_path: Path) -> None:
    for _ in range(3):
        _register(store, tmp_path)
    set_alias(store, "m@1", "gold")
    policy, retired = set_retention(store, "m", keep_last=1, keep_aliased=True)
    assert policy is not None and policy.keep_last == 1
    assert retired == ["m@2"]  # m@1 is aliased and kept
    assert get_model(store, "m").retention == {"keep_last": 1, "keep_aliased": True}
    save_deployment(store, parse_spec({"model": "m@3"}), name="web")
    _register(store, tmp_path)  # m@4 registers: m@3 is deployed, so kept
    assert [v.version for v in get_model(store, "m").versions] == [1, 3, 4]
    delete_deployment(store, "web")
    set_retention(store, "m", keep_last=1, keep_aliased=False)
    model = get_model(store, "m")
    assert [v.version for v in model.versions] == [4] and model.aliases == {}
    set_retention(store, "m", keep_last=None)
    assert get_model(store, "m").retention is None
    with pytest.raises(Invalid, match="at least 1"):
        set_retention(store, "m", keep_last=0)
    assert "model.retention.set" in _actions(store)


def test_a_version_deleted_while_a_deployment_is_saved_is_not_deployed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving a lock must rule out: deploy resolves m@1, a delete commits, deploy commits."""
    import modelplane.serving.deployments as deployments

    _register(store, tmp_path)
    _register(store, tmp_path)
    resolve = deployments.resolve

    def resolve_then_lose_it(store: Store, spec: deployments.DeploymentSpec) -> deployments.Resolved:
        found = resolve(store, spec)
        delete_version(store, "m@1")
        return found

    monkeypatch.setattr(deployments, "resolve", resolve_then_lose_it)
    with pytest.raises(NotFound, match="no version 1"):
        save_deployment(store, parse_spec({"model": "m@1"}), name="web")
    monkeypatch.undo()
    with pytest.raises(NotFound):
        deployments.get_deployment(store, "web")
