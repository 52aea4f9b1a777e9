"""A CSV / Parquet table ingested with column roles: inferred, declared, refused (all problems at once),
stored as Parquet in its stored types, read back as a table or as float32 arrays."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from modelplane.data.catalog import list_datasets, load_arrays, load_table, table_values
from modelplane.data.ingest import IngestOptions, IngestResult, add_dataset
from modelplane.data.roles import RoleOverrides
from modelplane.errors import Invalid
from modelplane.store import Store
from modelplane.tables.columns import Column

PLANS = ["basic", "pro", "team"]
ROWS = 60


def customers(path: Path, rows: int = ROWS, *, empty_age_at: int = 7) -> Path:
    """The issue's table: an id, a date, a text category, one empty cell, free text, a yes/no target."""
    lines = ["customer_id,signup_date,plan,age,notes,churned"]
    for i in range(rows):
        age = "" if i == empty_age_at else str(20 + (i * 7) % 50)
        notes = f"called {i} times about the {PLANS[i % 3]} plan"
        churned = "yes" if i % 4 == 0 else "no"
        lines.append(
            f"C{i:04d},2024-{1 + i % 12:02d}-{1 + i % 28:02d},{PLANS[i % 3]},{age},{notes},{churned}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def add(store: Store, path: Path, name: str = "churn", **options: object) -> IngestResult:
    return add_dataset(store, name, str(path), IngestOptions(**options))  # type: ignore[arg-type]


def _epoch(year: int, month: int, day: int) -> float:
    return datetime(year, month, day, tzinfo=timezone.utc).timestamp()


# --- inference --------------------------------------------------------------------------------------


def test_the_customer_table_ingests_in_one_run_with_the_right_roles(store: Store, tmp_path: Path) -> None:
    result = add(store, customers(tmp_path / "c.csv"), target="churned", drop_columns=("notes",))
    v = result.version
    assert v.columns == [
        Column("customer_id", "id"),
        Column("signup_date", "datetime"),
        Column("plan", "categorical"),
        Column("age", "numeric"),
    ]
    assert v.feature_names == ["signup_date", "plan", "age"] and v.feature_shape == [3]
    assert v.feature_dtype == "table" and v.task == "classification" and v.classes == ["no", "yes"]
    assert v.ingest_options == {
        "target": "churned",
        "ignore": ["notes"],
        "empty": [],
        "roles": {},
        "drop_na": False,
        "task": "classification",
    }
    assert any("'customer_id'" in notice and "read as an id" in notice for notice in result.notices)
    table, target = load_table(store, v)
    assert table.schema.names == ["customer_id", "signup_date", "plan", "age"]
    assert [str(t) for t in table.schema.types] == ["string", "double", "string", "double"]
    assert table.column("customer_id")[3].as_py() == "C0003"
    assert table.column("signup_date")[0].as_py() == _epoch(2024, 1, 1)
    assert table.column("age").null_count == 1 and table.column("age")[7].as_py() is None
    assert target is not None and target.tolist()[:4] == [1, 0, 0, 0]
    stats = v.stats["columns"]
    assert stats["plan"] == {"role": "categorical", "missing": 0, "distinct": 3, "distinct_capped": False}
    assert stats["age"]["missing"] == 1 and stats["age"]["min"] == 20


def test_free_text_is_refused_naming_the_column_and_the_fix(store: Store, tmp_path: Path) -> None:
    with pytest.raises(Invalid) as err:
        add(store, customers(tmp_path / "c.csv"), target="churned")
    assert str(err.value) == (
        "column 'notes' holds free text (60 distinct values in 60 rows); leave it out with --ignore notes "
        "or declare it --categorical notes (text columns need a text model family, not built yet)"
    )
    assert list(store.artifacts.tmp_dir.iterdir()) == []


def test_every_inference_problem_is_reported_in_one_run(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    rows = [f"{i % 5},note number {i},bio of person {i},{i % 3},{i % 2}" for i in range(70)]
    path.write_text("\n".join(["amount,notes,bio,level,y", *rows[:30], "oops,n,b,1,0", *rows[30:]]) + "\n")
    with pytest.raises(Invalid) as err:
        add(store, path, target="y")
    message = str(err.value)
    assert message.startswith("columns 'notes' (71 distinct values in 71 rows), 'bio' (71 distinct")
    assert "leave them out with --ignore notes,bio or declare them --categorical notes,bio" in message
    assert "column 'amount' mixes numbers and text ('oops' at row 31)" in message


def test_empty_columns_are_left_out_with_a_notice(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("a,fax,y\n" + "".join(f"{i % 4},,{i % 2}\n" for i in range(10)))
    result = add(store, path, target="y")
    assert result.version.columns == [Column("a", "numeric")]
    assert result.notices == ["column 'fax' has no values; left out (declare its role to keep it)"]
    assert result.version.ingest_options["empty"] == ["fax"]


def test_ids_by_name_and_by_uniqueness(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    lines = ["user_id,orderId,seq,code,note,v,y"]
    lines += [f"{10 + i},{900 + i},{i},K{i},a b{i},{i % 3},{i % 2}" for i in range(5)]
    path.write_text("\n".join(lines) + "\n")
    few = add(store, path, "few", target="y").version
    assert {c.name: c.role for c in few.columns or []} == {
        "user_id": "id",  # named like an id: an id with 5 rows
        "orderId": "id",
        "seq": "numeric",  # unique, but fewer than 20 rows
        "code": "categorical",
        "note": "categorical",
        "v": "numeric",
    }
    lines += [f"{10 + i},{900 + i},{i},K{i},a b{i},{i % 3},{i % 2}" for i in range(5, 25)]
    path.write_text("\n".join(lines) + "\n")
    many = add(store, path, "many", target="y", drop_columns=("note",)).version
    assert {c.name: c.role for c in many.columns or []} == {
        "user_id": "id",
        "orderId": "id",
        "seq": "id",  # unique integers in 25 rows
        "code": "id",  # unique text without spaces
        "v": "numeric",
    }
    table, _ = load_table(store, many)
    assert table.schema.field("seq").type == pa.int64() and table.schema.field("code").type == pa.string()


def test_no_feature_left_but_ids_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    path.write_text("n,y\n" + "".join(f"{i},{i % 2}\n" for i in range(30)))
    with pytest.raises(Invalid, match=r"no feature columns left in i.csv \(ids: n\).*--numeric NAME"):
        add(store, path, target="y")
    assert add(store, path, target="y", roles=RoleOverrides(numeric=("n",))).version.feature_names == ["n"]


# --- declared roles -----------------------------------------------------------------------------------


def test_declared_roles_override_inference(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    lines = ["store,opened,member,code,ref,y"]
    lines += [
        f"{i % 7},{1_700_000_000 + 86_400 * i},{'yes' if i % 3 else 'no'},{i},R{i},{i % 2}" for i in range(30)
    ]
    path.write_text("\n".join(lines) + "\n")
    roles = RoleOverrides(
        categorical=("store",), datetime=("opened",), boolean=("member",), numeric=("code",), id=("ref",)
    )
    v = add(store, path, target="y", roles=roles).version
    assert v.columns == [
        Column("store", "categorical"),
        Column("opened", "datetime"),
        Column("member", "boolean"),
        Column("code", "numeric"),
        Column("ref", "id"),
    ]
    assert v.ingest_options["roles"] == {
        "categorical": ["store"],
        "numeric": ["code"],
        "boolean": ["member"],
        "datetime": ["opened"],
        "id": ["ref"],
    }
    table, _ = load_table(store, v)
    assert table.column("store").to_pylist()[:3] == ["0", "1", "2"]  # categories are text: 7, not 7.0
    assert table.column("opened")[1].as_py() == 1_700_086_400.0  # numbers declared datetime: epoch seconds
    assert table.column("member").to_pylist()[:3] == [False, True, True]
    values = table_values(table, v.columns or [])
    assert values["store"].dtype == object and values["store"][0] == "0"
    assert values["member"].dtype == np.float64 and values["member"][:3].tolist() == [0.0, 1.0, 1.0]
    assert values["opened"].dtype == np.float64 and values["ref"][0] == "R0"


def test_conflicting_and_unknown_flags_are_refused_together(store: Store, tmp_path: Path) -> None:
    path = customers(tmp_path / "c.csv")
    roles = RoleOverrides(categorical=("plan", "churned"), numeric=("plan", "agee"))
    with pytest.raises(Invalid) as err:
        add(store, path, target="churned", drop_columns=("notes",), roles=roles)
    problems = str(err.value).split("; ")
    assert "column 'churned' is the target and also named by --categorical" in problems[0]
    assert "column 'plan' is named by both --categorical and --numeric" in str(err.value)
    assert "column 'agee' named by --numeric is not in c.csv; columns are: customer_id" in str(err.value)
    with pytest.raises(Invalid, match="column 'age' is named by both --ignore and --numeric"):
        add(
            store,
            path,
            target="churned",
            drop_columns=("notes", "age"),
            roles=RoleOverrides(numeric=("age",)),
        )
    assert list_datasets(store) == []


def test_a_value_a_declared_role_cannot_read_names_column_row_and_fix(store: Store, tmp_path: Path) -> None:
    path = customers(tmp_path / "c.csv")
    roles = RoleOverrides(numeric=("plan",), boolean=("churned",))
    with pytest.raises(Invalid) as err:
        add(store, path, target="age", drop_columns=("notes",), roles=roles, drop_na=True)
    message = str(err.value)
    assert "column 'plan' row 1: 'basic' is not a number; fix the value" in message
    assert "column 'churned' is the target" not in message
    assert "--ignore plan" in message


def test_a_bad_value_after_the_first_rows_names_its_row(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("modelplane.data.table_source.INFER_ROWS", 20)
    path = tmp_path / "late.csv"
    lines = ["amount,when,y"] + [f"{i % 9}.5,2024-01-{1 + i % 28:02d},{i % 2}" for i in range(50)]
    lines[41] = "abc,2024-01-01,1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(Invalid) as err:
        add(store, path, target="y", chunk_rows=10)
    assert str(err.value).startswith("column 'amount' row 41: 'abc' is not a number; fix the value")
    ids = tmp_path / "ids.csv"
    ids.write_text("n,v,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30)) + "A7,1,0\n")
    with pytest.raises(
        Invalid, match=r"column 'n' row 31: 'A7' is not an integer; fix the value: the first 20"
    ):
        add(store, ids, "ids", target="y", chunk_rows=10)
    lines[41] = "1.5,2024-13-45,1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(Invalid, match=r"column 'when' row 41: '2024-13-45' is not a date"):
        add(store, path, target="y", chunk_rows=10)
    assert list(store.artifacts.tmp_dir.iterdir()) == []


# --- missing values -----------------------------------------------------------------------------------


def test_missing_features_are_kept_and_drop_na_drops_their_rows(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("age,plan,t\n1,a,x\n,b,y\n3,,x\n4,a,y\n")
    kept = add(store, path, "kept", target="t").version
    assert kept.num_rows == 4 and kept.stats["columns"]["age"]["missing"] == 1
    dropped = add(store, path, "dropped", target="t", drop_na=True).version
    assert dropped.num_rows == 2
    table, _ = load_table(store, dropped)
    assert table.column("age").to_pylist() == [1.0, 4.0]


def test_a_missing_target_is_refused_unless_dropped(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("a,t\n1,x\n2,\n3,y\n")
    with pytest.raises(Invalid, match=r"target column 't' has 1 missing value .*--drop-na"):
        add(store, path, target="t")
    assert add(store, path, target="t", drop_na=True).version.num_rows == 2


# --- Parquet, storage, arrays -------------------------------------------------------------------------


def test_the_same_table_from_parquet_gives_the_same_roles_and_values(store: Store, tmp_path: Path) -> None:
    csv = customers(tmp_path / "c.csv")
    parquet = tmp_path / "c.parquet"
    pq.write_table(pacsv.read_csv(csv), parquet, row_group_size=17)  # Arrow types: date32, int64, string
    assert str(pq.read_schema(parquet).field("signup_date").type) == "date32[day]"
    from_csv = add(store, csv, "a", target="churned", drop_columns=("notes",)).version
    from_parquet = add(store, parquet, "b", target="churned", drop_columns=("notes",), chunk_rows=25).version
    assert from_parquet.columns == from_csv.columns and from_parquet.classes == from_csv.classes
    table_csv, target_csv = load_table(store, from_csv)
    table_parquet, target_parquet = load_table(store, from_parquet)
    assert table_parquet.equals(table_csv)
    assert target_csv is not None and target_parquet is not None
    assert np.array_equal(target_csv, target_parquet)
    assert from_parquet.content_hash == from_csv.content_hash  # the same content, whatever the file


def test_re_adding_identical_content_is_unchanged_whatever_the_chunks(store: Store, tmp_path: Path) -> None:
    path = customers(tmp_path / "c.csv")
    first = add(store, path, target="churned", drop_columns=("notes",))
    again = add(store, path, target="churned", drop_columns=("notes",), chunk_rows=7)
    assert first.created and not again.created
    assert again.version.content_hash == first.version.content_hash
    other = add(
        store, path, target="churned", drop_columns=("notes",), roles=RoleOverrides(categorical=("age",))
    )
    assert other.created and other.version.version == 2  # roles are content


def test_the_stored_table_is_written_in_row_groups_of_chunks(store: Store, tmp_path: Path) -> None:
    v = add(store, customers(tmp_path / "c.csv"), target="churned", drop_columns=("notes",), chunk_rows=16)
    parquet = pq.ParquetFile(store.artifacts.path_for(v.version.features_sha))
    assert [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)] == [16, 16, 16, 12]


def test_load_arrays_reads_numeric_tables_as_float32(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    x = np.random.default_rng(0).normal(size=(50, 3)).round(3)
    flags = np.arange(50) % 3 == 0
    path.write_text(
        "a,b,c,flag,y\n"
        + "".join(
            f"{r[0]},{r[1]},{'' if i == 4 else r[2]},{'' if i == 5 else str(f).lower()},{i % 2}\n"
            for i, (r, f) in enumerate(zip(x, flags, strict=True))
        )
    )
    v = add(store, path, target="y").version
    assert [c.role for c in v.columns or []] == ["numeric", "numeric", "numeric", "boolean"]
    features, target = load_arrays(store, v)
    expected = np.column_stack([x, flags]).astype(np.float32)
    expected[4, 2] = expected[5, 3] = np.nan
    assert features.dtype == np.float32 and features.shape == (50, 4)
    assert np.array_equal(features, expected, equal_nan=True)
    assert target is not None and target.tolist() == [i % 2 for i in range(50)]
    encoded = add(
        store, customers(tmp_path / "c.csv"), "c", target="churned", drop_columns=("notes",)
    ).version
    with pytest.raises(Invalid, match=r"dataset c@1 has categorical/datetime columns .* preprocessing"):
        load_arrays(store, encoded)


def test_builtins_and_arrays_are_stored_as_before(store: Store) -> None:
    v = add_dataset(store, "iris", "builtin:iris").version
    assert v.columns is None and v.feature_dtype == "float32"
    assert v.ingest_options == {"target": None, "drop_na": False, "task": "classification"}
    with pytest.raises(Invalid, match="--categorical/--numeric"):
        add_dataset(store, "iris", "builtin:iris", IngestOptions(roles=RoleOverrides(numeric=("x",))))
    with pytest.raises(Invalid, match="not a table; read it with load_arrays"):
        load_table(store, v)


# --- append -------------------------------------------------------------------------------------------


def test_append_inherits_target_roles_and_left_out_columns(store: Store, tmp_path: Path) -> None:
    base = add(store, customers(tmp_path / "c.csv"), target="churned", drop_columns=("notes",)).version
    more = tmp_path / "more.csv"
    more.write_text(
        "customer_id,signup_date,plan,age,notes,churned\n"
        "D0001,2025-01-01,enterprise,41,new plan,maybe\n"
        "D0002,2025-01-02,pro,,another note,no\n"
    )
    result = add(store, more, append=True)
    v = result.version
    assert result.notices == ["appending with the parent's target 'churned', roles and dropped columns"]
    assert v.num_rows == ROWS + 2 and v.new_rows_start == ROWS and v.parent_version == base.version
    assert v.columns == base.columns and v.classes == ["no", "yes", "maybe"]
    assert v.ingest_options == base.ingest_options
    table, target = load_table(store, v)
    assert table.slice(ROWS).to_pylist() == [
        {"customer_id": "D0001", "signup_date": _epoch(2025, 1, 1), "plan": "enterprise", "age": 41.0},
        {"customer_id": "D0002", "signup_date": _epoch(2025, 1, 2), "plan": "pro", "age": None},
    ]
    assert target is not None and target[-2:].tolist() == [2, 0]


def test_append_refuses_flags_that_contradict_the_parent(store: Store, tmp_path: Path) -> None:
    path = customers(tmp_path / "c.csv")
    add(store, path, target="churned", drop_columns=("notes",))
    with pytest.raises(Invalid) as err:
        add(store, path, append=True, target="plan", roles=RoleOverrides(numeric=("plan",)))
    message = str(err.value)
    assert "--target 'plan' contradicts churn@1, whose target is 'churned'" in message
    assert "--numeric plan contradicts churn@1, which reads 'plan' as categorical" in message
    with pytest.raises(Invalid, match="--ignore age contradicts churn@1, which reads 'age' as numeric"):
        add(store, path, append=True, drop_columns=("age",))
    same = add(store, path, append=True, target="churned", roles=RoleOverrides(categorical=("plan",)))
    assert same.version.num_rows == 2 * ROWS


def test_append_with_another_column_set_names_at_most_ten_columns(store: Store, tmp_path: Path) -> None:
    wide = tmp_path / "wide.csv"
    names = [f"f{i}" for i in range(130)]
    wide.write_text(
        ",".join([*names, "y"]) + "\n" + "".join(",".join(["1"] * 130 + [y]) + "\n" for y in "01")
    )
    add(store, wide, "wide", target="y")
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(",".join([*(n.upper() for n in names), "y"]) + "\n" + ",".join(["1"] * 131) + "\n")
    with pytest.raises(Invalid) as err:
        add(store, renamed, "wide", append=True)
    message = str(err.value)
    assert message == (
        "cannot append renamed.csv to wide@1: its columns differ (missing f0, f1, f2, f3, f4 and 125 more; "
        "extra F0, F1, F2, F3, F4 and 125 more); rename or drop them (--drop NAME), or add the file as a new "
        "dataset without --append"
    )
    assert "\n" not in message
    extra = tmp_path / "extra.csv"
    extra.write_text(",".join([*names, "y", "note"]) + "\n" + ",".join(["2"] * 130 + ["1", "x"]) + "\n")
    with pytest.raises(Invalid, match=r"its columns differ \(extra note\)"):
        add(store, extra, "wide", append=True)
    appended = add(store, extra, "wide", append=True, drop_columns=("note",)).version
    assert appended.num_rows == 3 and appended.ingest_options["ignore"] == ["note"]


def test_append_reads_new_rows_with_the_parents_roles(store: Store, tmp_path: Path) -> None:
    base = tmp_path / "base.csv"
    base.write_text("size,amount,y\n" + "".join(f"{'SML'[i % 3]},{i % 5}.5,{i % 2}\n" for i in range(10)))
    add(store, base, "s", target="y")
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("size,amount,y\n7,1.5,0\n8,2.5,1\n")  # a categorical column of numbers: categories
    v = add(store, numbers, "s", append=True).version
    table, _ = load_table(store, v)
    assert table.column("size").to_pylist()[-2:] == ["7", "8"]
    text = tmp_path / "text.csv"
    text.write_text("size,amount,y\nS,1.5,0\nM,lots,1\n")
    with pytest.raises(Invalid) as err:
        add(store, text, "s", append=True)
    assert str(err.value) == (
        "column 'amount' row 2: 'lots' is not a number; s@2 reads column 'amount' as numeric: fix the "
        "value, or add the file as a new dataset without --append"
    )


def test_append_to_an_array_dataset_is_refused(store: Store, tmp_path: Path) -> None:
    add_dataset(store, "iris", "builtin:iris")
    path = tmp_path / "iris.csv"
    path.write_text("a,b,c,d,target\n1,2,3,4,setosa\n")
    with pytest.raises(
        Invalid, match="iris@1 holds builtin arrays, not a table; add the file as a new dataset"
    ):
        add(store, path, "iris", append=True)
