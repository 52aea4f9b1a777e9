from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.errors import Conflict, Invalid, NoSuchAlias, NotFound
from modelplane.registry.registry import (
    NewVersion,
    delete_version,
    get_model,
    get_version,
    list_models,
    register,
    remove_alias,
    set_alias,
)
from modelplane.store import Store


def _register(
    store: Store,
    tmp_path: Path,
    name: str = "digits-mlp",
    task: str = "classification",
    payload: bytes = b"w",
) -> str:
    weights = tmp_path / "w.bin"
    weights.write_bytes(payload)
    info = register(
        store,
        NewVersion(
            model_name=name,
            task=task,
            framework="torch",
            kind="mlp",
            spec={"kind": "mlp", "input_shape": [4]},
            weights_path=weights,
            params={},
            metrics={"test": {"accuracy": 0.9}},
            classes=["a", "b"],
        ),
        by="alice",
    )
    return info.ref


def test_versions_count_up_and_latest_resolves(store: Store, tmp_path: Path) -> None:
    assert _register(store, tmp_path) == "digits-mlp@1"
    assert _register(store, tmp_path, payload=b"v2") == "digits-mlp@2"
    assert get_version(store, "digits-mlp").version == 2
    assert get_version(store, "digits-mlp@1").created_by == "alice"
    assert [m.name for m in list_models(store)] == ["digits-mlp"]


def test_alias_move_and_rollback_are_recorded(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)
    _register(store, tmp_path, payload=b"v2")
    set_alias(store, "digits-mlp@1", "production", by="alice")
    set_alias(store, "digits-mlp@2", "production", by="bob")
    assert get_version(store, "digits-mlp@production").version == 2
    set_alias(store, "digits-mlp@1", "production", by="bob")  # rollback
    model = get_model(store, "digits-mlp")
    assert model.aliases == {"production": 1}
    assert [(m.from_version, m.to_version, m.by) for m in model.alias_history] == [
        (None, 1, "alice"),
        (1, 2, "bob"),
        (2, 1, "bob"),
    ]
    assert get_version(store, "digits-mlp@1").aliases == ["production"]


def test_alias_to_missing_version_changes_nothing(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)
    set_alias(store, "digits-mlp@1", "production")
    with pytest.raises(NotFound, match="no version 9"):
        set_alias(store, "digits-mlp@9", "production")
    assert get_model(store, "digits-mlp").aliases == {"production": 1}
    with pytest.raises(Invalid, match="which version"):
        set_alias(store, "digits-mlp", "staging")
    with pytest.raises(Invalid, match="number"):
        set_alias(store, "digits-mlp@1", "3")


def test_delete_refused_while_aliased_and_numbers_never_reused(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)
    _register(store, tmp_path, payload=b"v2")
    set_alias(store, "digits-mlp@2", "production")
    with pytest.raises(Conflict, match="alias production"):
        delete_version(store, "digits-mlp@2")
    remove_alias(store, "digits-mlp", "production")
    delete_version(store, "digits-mlp@2")
    with pytest.raises(NotFound):
        get_version(store, "digits-mlp@2")
    assert _register(store, tmp_path, payload=b"v3") == "digits-mlp@3"


def test_task_mismatch_is_a_conflict(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)
    with pytest.raises(Conflict, match="classification model"):
        _register(store, tmp_path, task="regression")


def test_unknown_model_and_bad_names(store: Store) -> None:
    with pytest.raises(NotFound, match="models list"):
        get_version(store, "nope@1")
    with pytest.raises(Invalid, match="not valid"):
        get_version(store, "bad name!")


def test_a_missing_alias_is_told_apart_by_type(store: Store, tmp_path: Path) -> None:
    """Callers (a retrain policy) act on a missing alias differently from a missing model."""
    _register(store, tmp_path)
    with pytest.raises(NoSuchAlias, match="has no alias 'production'; its aliases are none"):
        get_version(store, "digits-mlp@production")
    with pytest.raises(NoSuchAlias, match="has no alias 'staging'"):
        remove_alias(store, "digits-mlp", "staging")
    with pytest.raises(NotFound) as missing_model:
        get_version(store, "nope@production")
    assert not isinstance(missing_model.value, NoSuchAlias)
