"""`data add` with column roles: flags (repeatable, comma-separated), notices on stderr and in --json,
one-line refusals; `data show` lists the columns and their roles, and its --json carries them."""

from __future__ import annotations

from pathlib import Path

from tests.cli.verbs import modelplane, ok
from tests.data.test_table_ingest import customers


def test_add_with_roles_prints_notices_and_show_lists_the_columns(tmp_path: Path) -> None:
    path = customers(tmp_path / "c.csv")
    refused = modelplane("data", "add", "churn", "--from", path, "--target", "churned")
    assert refused.code == 2 and refused.out == ""
    assert "column 'notes' holds free text" in refused.err and "--ignore notes" in refused.err
    added = ok("data", "add", "churn", "--from", path, "--target", "churned", "--ignore", "notes", "--json")
    body = added.json()
    assert body["created"] and body["notices"] and "'customer_id'" in body["notices"][0]
    assert "note: column 'customer_id'" in added.err
    assert body["columns"][0] == {"name": "customer_id", "role": "id"}
    shown = ok("data", "show", "churn", "--json").json()["version"]
    assert [(c["name"], c["role"]) for c in shown["columns"]] == [
        ("customer_id", "id"),
        ("signup_date", "datetime"),
        ("plan", "categorical"),
        ("age", "numeric"),
    ]
    assert shown["stats"]["columns"]["plan"]["distinct"] == 3 and shown["ingest_options"]["ignore"] == [
        "notes"
    ]
    table = ok("data", "show", "churn").out
    assert "categorical" in table and "3 distinct" in table and "notes (ignored)" in table


def test_role_flags_are_comma_separated_and_drop_still_works(tmp_path: Path) -> None:
    path = customers(tmp_path / "c.csv")
    args = ["--target", "churned", "--drop", "notes", "--categorical", "plan,age", "--id", "customer_id"]
    body = ok("data", "add", "churn", "--from", path, *args, "--json").json()
    assert {c["name"]: c["role"] for c in body["columns"]}["age"] == "categorical"
    assert body["ingest_options"]["roles"] == {"categorical": ["plan", "age"], "id": ["customer_id"]}
    assert body["notices"] == []
    conflict = modelplane(
        "data", "add", "x", "--from", path, "--target", "churned", "--numeric", "plan,churned"
    )
    assert conflict.code == 2 and conflict.err.count("error:") == 1
    assert "column 'churned' is the target and also named by --numeric" in conflict.err


def test_append_says_what_it_inherits(tmp_path: Path) -> None:
    path = customers(tmp_path / "c.csv")
    ok("data", "add", "churn", "--from", path, "--target", "churned", "--ignore", "notes")
    more = tmp_path / "more.csv"
    more.write_text(path.read_text().splitlines()[0] + "\nX1,2025-01-01,pro,33,hi,no\n")
    appended = ok("data", "add", "churn", "--from", more, "--append")
    assert "note: appending with the parent's target 'churned', roles and dropped columns" in appended.err
    assert "churn@2" in appended.out and "(1 new)" in appended.out
    other = modelplane("data", "add", "churn", "--from", more, "--append", "--target", "plan")
    assert other.code == 2 and "--target 'plan' contradicts churn@2, whose target is 'churned'" in other.err
