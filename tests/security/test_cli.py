from __future__ import annotations

import pytest
from sqlalchemy import text

from modelplane.cli.context import platform
from modelplane.security.metering import Meter
from tests.cli_helpers import run_cli


def test_keys_create_list_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    created = run_cli(
        capsys,
        "keys", "create", "--role", "consumer", "--deployment", "digits-cnn", "--rate", "50/s",
        "--quota", "100000/month", "--name", "acme",
    )  # fmt: skip
    assert created.code == 0, created.err
    raw = next(line for line in created.out.splitlines() if line.startswith("mp_"))
    key_id = raw.split("_")[1]
    assert "shown only once" in created.err
    listed = run_cli(capsys, "keys", "list", "--json").json()
    assert [(k["id"], k["role"], k["deployments"], k["rate"], k["quota"]) for k in listed] == [
        (key_id, "consumer", ["digits-cnn"], "50/s", "100000/month")
    ]
    assert raw.split("_", 2)[2] not in str(listed)
    revoked = run_cli(capsys, "keys", "revoke", key_id)
    assert revoked.code == 0 and f"revoked key {key_id} (acme)" in revoked.out
    assert run_cli(capsys, "keys", "list", "--json").json()[0]["active"] is False
    assert run_cli(capsys, "keys", "list").code == 0


def test_keys_create_explains_a_bad_flag(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys, "keys", "create", "--role", "consumer", "--name", "a", "-d", "x", "--rate", "lots"
    )
    assert result.code == 2 and "--rate 'lots' is not COUNT/UNIT" in result.err
    again = run_cli(capsys, "keys", "revoke", "ffffffffffff")
    assert again.code == 2 and "does not exist" in again.err


def test_usage_report_as_table_csv_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    with Meter(platform().store) as meter:
        meter.record("k1", "digits", "digits@1", samples=5, compute_ms=2.5, at=1_793_577_600.0)  # 2026-11-02
    csv_out = run_cli(capsys, "usage", "report", "--since", "2026-11-01", "--csv")
    assert csv_out.out.splitlines() == [
        "key_id,deployment,day,requests,errors,rejected,samples,compute_ms",
        "k1,digits,2026-11-02,1,0,0,5,2.5",
    ]
    rows = run_cli(
        capsys, "usage", "report", "--since", "2026-11-01", "--until", "2026-11-30", "--json"
    ).json()
    assert rows[0]["samples"] == 5
    assert run_cli(capsys, "usage", "report", "--since", "2026-11-03", "--json").json() == []
    assert "k1" in run_cli(capsys, "usage", "report", "--since", "2026-11-01").out
    bad = run_cli(capsys, "usage", "report", "--since", "Nov 1")
    assert bad.code == 2 and "write YYYY-MM-DD" in bad.err


def test_audit_log_verify_head_and_a_tampered_chain(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b"):
        run_cli(capsys, "keys", "create", "--role", "developer", "--name", name)
    log = run_cli(capsys, "audit", "log", "--json", "--limit", "1").json()
    assert [(e["seq"], e["action"]) for e in log] == [(2, "key.created")]
    assert run_cli(capsys, "audit", "log").code == 0
    head = run_cli(capsys, "audit", "head")
    assert head.out.strip() == f"seq 2 hash {log[0]['hash']}"
    intact = run_cli(capsys, "audit", "verify")
    assert intact.code == 0 and f"chain intact, 2 entries, head {log[0]['hash']}" in intact.out
    with platform().store.db.engine.begin() as connection:
        connection.execute(text("UPDATE audit SET actor = 'mallory' WHERE seq = 1"))
    broken = run_cli(capsys, "audit", "verify")
    assert broken.code == 3 and "entry 1 was edited" in broken.err
