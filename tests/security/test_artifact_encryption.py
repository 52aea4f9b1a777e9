"""Envelope encryption at rest: sealed blobs on disk, decrypted in memory at load, refused when altered or
swapped, readable after a master key rotation (and only with the new key)."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from modelplane.config import Settings
from modelplane.errors import IntegrityError, Invalid, Misconfigured
from modelplane.registry.loading import load_native, load_runtime
from modelplane.registry.registry import get_version
from modelplane.security import artifact_keys, envelope
from modelplane.security.master_key import MasterKey, configured_master_key, parse_key
from modelplane.store import Store
from modelplane.store.orm import Artifact
from tests.cli_helpers import run_cli
from tests.security.crypto_helpers import (
    ROWS,
    flip_byte,
    graph_bytes,
    last_entry,
    new_key,
    register_graph,
    use_master_key,
)


def _row(store: Store, sha: str) -> Artifact:
    with store.db.session() as session:
        return session.get_one(Artifact, sha)


def _files(store: Store) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in store.artifacts.root.rglob("*") if p.is_file()}


def test_sealed_blob_round_trips_across_segments_and_refuses_any_change() -> None:
    key, sha = envelope.new_data_key(), "ab" * 32
    plain = os.urandom(10_000)
    blob = b"".join(envelope.seal(key, sha, [plain[:3000], plain[3000:]], segment=4096))
    assert envelope.unseal(key, sha, blob) == plain
    assert envelope.unseal(key, sha, b"".join(envelope.seal(key, sha, [b""]))) == b""
    tampered = bytearray(blob)
    tampered[5000] ^= 1
    for bad in (bytes(tampered), blob[: 4096 + 16 + 23], blob + blob[-16:]):  # flipped, truncated, extended
        with pytest.raises(IntegrityError, match="fail authentication"):
            envelope.unseal(key, sha, bad)
    with pytest.raises(IntegrityError, match="fail authentication"):  # another artifact's identity
        envelope.unseal(key, "cd" * 32, blob)


def test_an_encrypted_version_loads_from_memory_and_no_plaintext_is_stored(
    store: Store, tmp_path: Path
) -> None:
    plain = register_graph(store, tmp_path, "plain")
    expected = load_runtime(store, plain).predict(ROWS)["probabilities"]
    use_master_key(store, new_key())
    sealed = register_graph(store, tmp_path, "sealed", seed=1)
    row = _row(store, sealed.onnx_sha or "")
    assert row.key_id == configured_master_key(store.settings).key_id  # type: ignore[union-attr]
    assert not store.artifacts.exists(sealed.onnx_sha or "") and store.artifacts.exists(row.blob or "")
    graph = graph_bytes(1)
    assert not any(graph[100:164] in data for data in _files(store).values())
    got = load_runtime(store, sealed).predict(ROWS)["probabilities"]
    assert got.shape == expected.shape and not np.allclose(got, expected)  # its own weights, decrypted
    # Content that was stored before encryption was on is shared as it is, and still loads.
    again = register_graph(store, tmp_path, "plain-again")
    assert _row(store, again.onnx_sha or "").key_id is None
    np.testing.assert_allclose(load_runtime(store, plain).predict(ROWS)["probabilities"], expected)


def test_a_flipped_byte_in_a_sealed_blob_is_refused_and_audited(store: Store, tmp_path: Path) -> None:
    use_master_key(store, new_key())
    info = register_graph(store, tmp_path)
    flip_byte(store.artifacts.path_for(_row(store, info.onnx_sha or "").blob or ""))
    with pytest.raises(IntegrityError, match="fail authentication"):
        load_runtime(store, info)
    entry = last_entry(store)
    assert (entry.action, entry.target, entry.details["reason"]) == (
        "model.version.refused",
        "tiny@1",
        "artifact",
    )


def test_swapped_ciphertexts_are_refused(store: Store, tmp_path: Path) -> None:
    use_master_key(store, new_key())
    one, two = register_graph(store, tmp_path, "one", seed=1), register_graph(store, tmp_path, "two", seed=2)
    path_one = store.artifacts.path_for(_row(store, one.onnx_sha or "").blob or "")
    path_two = store.artifacts.path_for(_row(store, two.onnx_sha or "").blob or "")
    blob_one, blob_two = path_one.read_bytes(), path_two.read_bytes()
    for path, data in ((path_one, blob_two), (path_two, blob_one)):
        path.chmod(0o644)
        path.write_bytes(data)
    for info in (one, two):
        with pytest.raises(IntegrityError, match="swapped"):
            load_runtime(store, info)
    assert last_entry(store).target == "two@1"


def test_without_the_master_key_an_encrypted_artifact_names_the_settings(
    store: Store, tmp_path: Path
) -> None:
    use_master_key(store, new_key())
    info = register_graph(store, tmp_path)
    use_master_key(store, None)
    with pytest.raises(Misconfigured, match=r"MODELPLANE_MASTER_KEY .*MODELPLANE_MASTER_KEY_FILE"):
        load_runtime(store, info)
    use_master_key(store, new_key())  # another key: named by id, not tried
    with pytest.raises(Misconfigured, match=r"is encrypted with master key [0-9a-f]{16}, but the configured"):
        load_runtime(store, info)


def test_master_key_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="holds 18 bytes; a master key is 32 bytes"):
        parse_key("A" * 24, "MODELPLANE_MASTER_KEY")
    with pytest.raises(Invalid, match="is not base64"):
        parse_key("not a key!", "MODELPLANE_MASTER_KEY")
    key = new_key()
    (tmp_path / "k").write_text(key + "\n")
    both = Settings(master_key=SecretStr(key), master_key_file=tmp_path / "k")
    with pytest.raises(Misconfigured, match="set only one of them"):
        configured_master_key(both)
    from_file = configured_master_key(Settings(master_key_file=tmp_path / "k"))
    assert from_file == parse_key(key, "test")


def test_a_torch_version_loads_natively_from_an_in_memory_file(tmp_path: Path) -> None:
    from modelplane.local import Local

    local = Local(home=tmp_path / "home")
    use_master_key(local.store, new_key())
    local.datasets.add("digits", source="builtin:digits")
    run = local.train(data="digits", model="mlp", spec={"hidden": [8]}, train={"epochs": 1})
    info = get_version(local.store, run.model_version or "")
    assert all(_row(local.store, a.sha256).key_id for a in info.artifacts.values())
    module = load_native(local.store, info)
    x = np.zeros((2, *info.input_shape), dtype=np.float32)
    native = load_runtime(local.store, info, "native").predict(x)["probabilities"]
    served = load_runtime(local.store, info).predict(x)["probabilities"]
    np.testing.assert_allclose(native, served, atol=1e-4)
    assert sum(p.numel() for p in module.parameters()) > 0
    local.close()


def test_rotate_master_rewraps_keys_only_and_is_audited(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = new_key()
    use_master_key(store, old, monkeypatch)
    infos = [register_graph(store, tmp_path, f"m{i}", seed=i) for i in range(3)]
    blobs = {p: hashlib.sha256(d).hexdigest() for p, d in _files(store).items() if p.parent.name != "tmp"}
    new_file = tmp_path / "new.key"
    made = run_cli(capsys, "keys", "new-master", "--out", str(new_file))
    assert made.code == 0 and stat.S_IMODE(new_file.stat().st_mode) == 0o600
    assert run_cli(capsys, "keys", "new-master", "--out", str(new_file)).code == 2  # never overwritten

    result = run_cli(capsys, "keys", "rotate-master", "--new-key-file", str(new_file), "--json")
    assert result.code == 0, result.err
    new_id = parse_key(new_file.read_text(), "new").key_id
    assert result.json()["rewrapped"] == 3 and result.json()["new_key_id"] == new_id
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in blobs} == blobs  # payloads untouched
    entry = last_entry(store)
    assert entry.action == "artifacts.master_key.rotated" and entry.details["rewrapped"] == 3

    with pytest.raises(Misconfigured, match=f"is encrypted with master key {new_id}"):
        load_runtime(store, infos[0])  # the old key no longer opens anything
    use_master_key(store, new_file.read_text().strip())
    for info in infos:
        assert load_runtime(store, info).predict(ROWS)["probabilities"].shape == (4, 3)
    again = run_cli(capsys, "keys", "rotate-master", "--new-key-file", str(new_file), "--json")
    assert again.code == 0 and again.json()["rewrapped"] == 0  # a rerun finishes what is left: nothing


def test_a_rotation_that_dies_midway_leaves_every_key_under_the_old_master(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = new_key()
    use_master_key(store, old)
    infos = [register_graph(store, tmp_path, f"m{i}", seed=i) for i in range(3)]
    wrapped = envelope.wrap
    calls = []

    def dies_on_the_third(master: MasterKey, sha: str, data_key: bytes) -> str:
        calls.append(sha)
        if len(calls) == 3:
            raise KeyboardInterrupt("the process is killed")
        return wrapped(master, sha, data_key)

    monkeypatch.setattr(artifact_keys, "wrap", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        artifact_keys.rotate_master(store, MasterKey(os.urandom(32)), by="alice")
    with store.db.session() as session:
        ids = set(session.scalars(select(Artifact.key_id)))
    assert ids == {configured_master_key(store.settings).key_id}  # type: ignore[union-attr]
    for info in infos:
        assert load_runtime(store, info).predict(ROWS)["probabilities"].shape == (4, 3)


def test_rotation_on_postgres_locks_and_rewraps(pg_store: Store, tmp_path: Path) -> None:
    use_master_key(pg_store, new_key())
    infos = [register_graph(pg_store, tmp_path, f"m{i}", seed=i) for i in range(2)]
    new = MasterKey(os.urandom(32))
    done = artifact_keys.rotate_master(pg_store, new, by="alice")
    assert (done.rewrapped, done.encrypted, done.plaintext) == (2, 2, 0)
    use_master_key(pg_store, base64.b64encode(new.key).decode())
    for info in infos:
        assert load_runtime(pg_store, info).predict(ROWS)["probabilities"].shape == (4, 3)
