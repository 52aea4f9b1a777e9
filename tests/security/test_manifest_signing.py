"""Signed manifests: every version is signed when registered; a tampered file, a tampered record or a
missing signature is refused at load with an IntegrityError and an audit entry."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from modelplane.errors import IntegrityError, Misconfigured
from modelplane.registry.integrity import manifest_of, verify_version
from modelplane.registry.loading import load_runtime
from modelplane.registry.registry import add_artifact, get_version
from modelplane.security.signing import signing_key
from modelplane.store import Store
from tests.cli_helpers import run_cli
from tests.security.crypto_helpers import ROWS, flip_byte, last_entry, register_graph


def test_a_registered_version_is_signed_with_the_platform_key(store: Store, tmp_path: Path) -> None:
    info = register_graph(store, tmp_path)
    key_file = store.settings.resolved_signing_key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = signing_key(key_file)
    assert info.signing_key_id == key.key_id and info.signature is not None
    assert key.verifies(manifest_of(info), info.signature)
    assert b'"artifacts":{"onnx":"' + (info.onnx_sha or "").encode() in manifest_of(info)
    # A file made later (a TorchScript trace) joins the manifest, signed again.
    (tmp_path / "trace").write_bytes(b"trace")
    added = add_artifact(store, info, "torchscript", tmp_path / "trace")
    assert added.signature != info.signature
    verify_version(store, added)


def test_a_flipped_byte_in_a_stored_file_is_refused_and_audited(store: Store, tmp_path: Path) -> None:
    info = register_graph(store, tmp_path)
    flip_byte(store.artifacts.path_for(info.onnx_sha or ""))
    with pytest.raises(IntegrityError, match="is corrupt"):
        load_runtime(store, info)
    entry = last_entry(store)
    assert (entry.action, entry.target) == ("model.version.refused", "tiny@1")
    assert entry.details["reason"] == "artifact" and entry.details["format"] == "onnx"


def test_a_tampered_record_is_refused_and_audited(store: Store, tmp_path: Path) -> None:
    info = register_graph(store, tmp_path)
    other = register_graph(store, tmp_path, "other", seed=5)
    with store.db.engine.begin() as conn:  # point tiny@1 at other's (intact) graph
        conn.execute(
            text("UPDATE model_version_artifacts SET sha256 = :other WHERE sha256 = :mine"),
            {"other": other.onnx_sha, "mine": info.onnx_sha},
        )
    with pytest.raises(IntegrityError, match="does not match its signature"):
        load_runtime(store, get_version(store, "tiny@1"))
    with store.db.engine.begin() as conn:  # or relabel its classes
        conn.execute(text('UPDATE model_versions SET classes = \'["c", "b", "a"]\' WHERE version = 1'))
    with pytest.raises(IntegrityError, match="does not match its signature"):
        load_runtime(store, get_version(store, "other@1"))
    assert last_entry(store).details["reason"] == "bad-signature"


def test_an_unsigned_version_is_refused_until_signed(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = register_graph(store, tmp_path)
    broken = register_graph(store, tmp_path, "broken", seed=3)
    with store.db.engine.begin() as conn:  # as versions registered before signing were
        conn.execute(text("UPDATE model_versions SET signature = NULL, signing_key_id = NULL"))
    with pytest.raises(IntegrityError, match="modelplane keys sign-unsigned"):
        load_runtime(store, get_version(store, info.ref))
    assert (last_entry(store).action, last_entry(store).details["reason"]) == (
        "model.version.refused",
        "unsigned",
    )
    flip_byte(store.artifacts.path_for(broken.onnx_sha or ""))

    result = run_cli(capsys, "keys", "sign-unsigned", "--json")
    assert result.code == 3 and "not signed: their files do not match" in result.err
    assert result.json()["signed"] == ["tiny@1"] and list(result.json()["refused"]) == ["broken@1"]
    assert last_entry(store).action == "model.version.signed"
    assert load_runtime(store, get_version(store, info.ref)).predict(ROWS)["probabilities"].shape == (4, 3)
    again = run_cli(capsys, "keys", "sign-unsigned")
    assert again.code == 3 and "broken@1" in again.out


def test_a_version_signed_by_another_key_is_refused(store: Store, tmp_path: Path) -> None:
    info = register_graph(store, tmp_path)
    key_file = store.settings.resolved_signing_key_file
    key_file.unlink()
    with pytest.raises(Misconfigured, match=r"signing key .* is missing"):
        load_runtime(store, info)
    signing_key(key_file)  # a new platform key
    with pytest.raises(IntegrityError, match=f"signed with key {info.signing_key_id}, not with"):
        load_runtime(store, info)
    assert last_entry(store).details["reason"] == "unknown-key"


def test_the_demo_signs_its_own_older_versions_and_no_one_elses(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelplane.cli.up import _sign_older_demo_versions
    from modelplane.local import Local

    demo = register_graph(store, tmp_path, "digits-cnn")
    other = register_graph(store, tmp_path, "other", seed=1)
    with store.db.engine.begin() as conn:  # a demo home from before versions were signed
        conn.execute(text("UPDATE model_versions SET signature = NULL, signing_key_id = NULL"))
    local = Local()
    try:
        _sign_older_demo_versions(local)
    finally:
        local.close()
    assert "demo: signed digits-cnn@1" in capsys.readouterr().out
    assert load_runtime(store, get_version(store, demo.ref)).predict(ROWS)["probabilities"].shape == (4, 3)
    with pytest.raises(IntegrityError, match="sign-unsigned"):
        load_runtime(store, get_version(store, other.ref))
