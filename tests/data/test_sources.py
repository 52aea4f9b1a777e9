"""open_source: format detection, option checks, CSV/TSV and Parquet streamed as float32 rows (the view
rows to predict are read through; dataset ingest reads tables, tests/data/test_table_ingest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelplane.data.sources import SourceSchema, open_source
from modelplane.errors import Invalid, NotFound
from tests.data.source_helpers import read_all, stacked


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


# --- detection and options -------------------------------------------------------------------


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="check the path"):
        open_source(str(tmp_path / "nope.csv"))


def test_unknown_suffix_lists_supported_formats(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(Invalid) as err:
        open_source(str(path))
    assert f"unknown format for '{path}'" in str(err.value)
    assert ".csv .tsv .parquet .npz" in str(err.value) and "builtin:NAME" in str(err.value)


def test_options_that_do_not_apply_are_refused(tmp_path: Path) -> None:
    csv = write(tmp_path / "a.csv", ["a,b", "1,2"])
    with pytest.raises(Invalid, match="image folders only"):
        open_source(str(csv), image_size=(8, 8))
    with pytest.raises(Invalid, match="--drop applies to CSV and Parquet"):
        open_source("builtin:iris", drop_columns=["x"])
    with pytest.raises(Invalid, match="chunk-rows"):
        open_source(str(csv), chunk_rows=0)


# --- CSV -------------------------------------------------------------------------------------


def test_csv_numbers_bools_and_numeric_target(tmp_path: Path) -> None:
    rows = [f"{i},{i * 0.25},{'true' if i % 2 else 'false'},{i % 3}" for i in range(250)]
    path = write(tmp_path / "d.csv", ["a,b,flag,label", *rows])
    schema, chunks = read_all(path, chunk_rows=64, target="label")
    assert schema == SourceSchema(
        format="csv",
        feature_names=["a", "b", "flag"],
        feature_shape=(3,),
        feature_dtype="float32",
        target_name="label",
        image_shape=None,
        class_names=None,
        task_hint=None,
    )
    assert max(len(c.features) for c in chunks) == 64
    x, y = stacked(chunks)
    i = np.arange(250)
    assert np.array_equal(x, np.stack([i, i * 0.25, i % 2], axis=1).astype(np.float32))
    assert y is not None and y.dtype == np.float64 and np.array_equal(y, i % 3)


def test_csv_text_target_and_no_target(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", ["x,species", "1,setosa", "2, virginica", "3,setosa"])
    _, chunks = read_all(path, target="species")
    _, y = stacked(chunks)
    assert y is not None and y.dtype.kind == "U" and y.tolist() == ["setosa", "virginica", "setosa"]
    schema, chunks = read_all(path, drop_columns=["species"])
    assert schema.target_name is None and schema.feature_names == ["x"]
    assert all(c.target is None for c in chunks)


def test_csv_target_type_is_decided_per_chunk(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", ["x,t", "1,1", "2,2", "3,cat", "4,dog"])
    _, chunks = read_all(path, chunk_rows=2, target="t")
    assert [c.target.dtype.kind for c in chunks if c.target is not None] == ["f", "U"]


def test_tsv_uses_tabs(tmp_path: Path) -> None:
    path = write(tmp_path / "d.tsv", ["a\tb\tt", "1\t2\tyes", "3\t4\tno"])
    schema, chunks = read_all(path, target="t")
    x, y = stacked(chunks)
    assert schema.format == "csv" and schema.feature_names == ["a", "b"]
    assert x.tolist() == [[1, 2], [3, 4]] and y is not None and y.tolist() == ["yes", "no"]


def test_csv_int_column_that_turns_float_late_still_reads(tmp_path: Path) -> None:
    rows = [f"{i},{i % 2}" for i in range(150_000)] + ["2.5,1"]
    path = write(tmp_path / "late.csv", ["a,t", *rows])
    _, chunks = read_all(path, chunk_rows=10_000, target="t")
    x, _ = stacked(chunks)
    assert len(x) == 150_001 and x[-1, 0] == 2.5 and x[149_999, 0] == 149_999


def test_csv_text_after_first_chunks_is_reported_with_row(tmp_path: Path) -> None:
    rows = [f"{i},{i % 2}" for i in range(150_000)] + ["abc,1", "5,0"]
    path = write(tmp_path / "mixed.csv", ["a,t", *rows])
    _, chunks = open_source(str(path), target="t", chunk_rows=1000)
    seen = 0
    with pytest.raises(Invalid) as err:
        for chunk in chunks:
            seen += len(chunk.features)
    assert seen > 0  # the error comes from streaming, after earlier chunks were delivered
    message = str(err.value)
    assert "column 'a' row 150001: 'abc' is not a number" in message
    assert "fix that value or leave the column out" in message


def test_csv_text_feature_column_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "churn.csv", ["age,plan,churned", "30,basic,1", "40,pro,0"])
    with pytest.raises(Invalid) as err:
        read_all(path, target="churned")
    assert "column 'plan' row 1: 'basic' is not a number" in str(err.value)
    _, chunks = read_all(path, target="churned", drop_columns=["plan"])
    assert stacked(chunks)[0].tolist() == [[30], [40]]


def test_csv_missing_values_error_or_drop(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", ["age,score,t", "1,2,a", "2,3,b", ",4,a", "4,NA,b", "5,6,", "6,7,a"])
    with pytest.raises(Invalid) as err:
        read_all(path, target="t")
    message = str(err.value)
    assert "column 'age' has 1 missing value" in message and "first at row 3" in message
    assert "--drop-na" in message
    _, chunks = read_all(path, target="t", drop_na=True, chunk_rows=2)
    x, y = stacked(chunks)
    assert x[:, 0].tolist() == [1, 2, 6] and y is not None and y.tolist() == ["a", "b", "a"]


def test_csv_missing_target_value_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", ["x,t", "1,0", "2,", "3,"])
    with pytest.raises(Invalid, match=r"column 't' has 2 missing values in rows 1-3 \(first at row 2\)"):
        read_all(path, target="t")


def test_csv_column_errors_name_columns_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path / "churn.csv", ["a,b,churned", "1,2,0"])
    with pytest.raises(Invalid) as err:
        open_source(str(path), target="churnd")
    assert str(err.value) == (
        "target column 'churnd' not found in churn.csv; columns are: a, b, churned (pass --target NAME)"
    )
    with pytest.raises(Invalid, match=r"column 'zz' to drop not found in churn.csv.*fix --drop"):
        open_source(str(path), drop_columns=["zz"])
    with pytest.raises(Invalid, match="both the target and dropped"):
        open_source(str(path), target="churned", drop_columns=["churned"])
    with pytest.raises(Invalid, match="no feature columns left"):
        open_source(str(path), target="churned", drop_columns=["a", "b"])
    dup = write(tmp_path / "dup.csv", ["a,a", "1,2"])
    with pytest.raises(Invalid, match="column 'a' appears more than once"):
        open_source(str(dup))


def test_csv_ragged_row_is_invalid(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", ["a,b", "1,2", "3"])
    with pytest.raises(Invalid, match=r"cannot parse r.csv"):
        read_all(path)


# --- Parquet ---------------------------------------------------------------------------------


def test_parquet_types_targets_and_chunks(tmp_path: Path) -> None:
    n = 300
    table = pa.table(
        {
            "i": pa.array(np.arange(n), pa.int32()),
            "f": pa.array(np.arange(n) / 4),
            "b": pa.array(np.arange(n) % 2 == 0),
            "num": pa.array(np.arange(n) % 5, pa.int64()),
            "cat": pa.array([["lo", "hi"][k % 2] for k in range(n)]).dictionary_encode(),
            "flag": pa.array(np.arange(n) % 3 == 0),
        }
    )
    path = tmp_path / "d.parquet"
    pq.write_table(table, path, row_group_size=128)
    schema, chunks = read_all(path, chunk_rows=50, target="num", drop_columns=["cat", "flag"])
    assert schema.format == "parquet" and schema.feature_names == ["i", "f", "b"]
    x, y = stacked(chunks)
    k = np.arange(n)
    assert np.array_equal(x, np.stack([k, k / 4, k % 2 == 0], axis=1).astype(np.float32))
    assert y is not None and y.dtype == np.float64 and np.array_equal(y, k % 5)
    _, chunks = read_all(path, target="cat", drop_columns=["flag"])
    y = stacked(chunks)[1]
    assert y is not None and y.dtype.kind == "U" and y[:3].tolist() == ["lo", "hi", "lo"]
    _, chunks = read_all(path, target="flag", drop_columns=["cat"])
    y = stacked(chunks)[1]
    assert y is not None and y[:3].tolist() == ["true", "false", "false"]


def test_parquet_text_feature_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "d.pq"
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "plan": ["basic", "pro", "pro"], "t": [1, 2, 3]}), path)
    with pytest.raises(Invalid) as err:
        open_source(str(path), target="t")
    assert "column 'plan' holds text (e.g. 'basic')" in str(err.value) and "leave it out" in str(err.value)
    with pytest.raises(Invalid, match=r"column 'a' has 1 missing value.*first at row 2.*--drop-na"):
        read_all(path, target="t", drop_columns=["plan"])
    _, chunks = read_all(path, target="t", drop_columns=["plan"], drop_na=True)
    x, y = stacked(chunks)
    assert x.tolist() == [[1.0], [3.0]] and y is not None and y.tolist() == [1.0, 3.0]


def test_parquet_bad_file_and_missing_target(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(Invalid, match=r"cannot read bad.parquet as Parquet"):
        open_source(str(bad))
    good = tmp_path / "g.parquet"
    pq.write_table(pa.table({"a": [1]}), good)
    with pytest.raises(Invalid, match=r"target column 'y' not found in g.parquet; columns are: a"):
        open_source(str(good), target="y")


def test_csv_bool_column_with_text_later(tmp_path: Path) -> None:
    rows = [f"{'true' if i % 3 else 'false'},{i}" for i in range(150_000)] + ["maybe,3"]
    path = write(tmp_path / "b.csv", ["flag,x", *rows])
    with pytest.raises(Invalid, match=r"column 'flag' row 150001: 'maybe' is not a boolean"):
        read_all(path, chunk_rows=50_000)


def test_csv_chunks_are_full_and_writable_across_blocks(tmp_path: Path) -> None:
    rows = [f"{i},{i % 7}" for i in range(120_000)]
    path = write(tmp_path / "wide.csv", ["a,t", *rows])
    _, chunks = read_all(path, chunk_rows=50_000, target="t")
    assert [len(c.features) for c in chunks] == [50_000, 50_000, 20_000]
    assert all(c.target is not None and c.target.flags.writeable for c in chunks)
    x, y = stacked(chunks)
    assert np.array_equal(x[:, 0], np.arange(120_000)) and y is not None and y[-1] == 119_999 % 7


def test_parquet_memory_follows_one_row_group_not_the_file(tmp_path: Path) -> None:
    """Streaming a file of 8 row groups holds about one of them in Arrow memory at a time (pyarrow's
    default pre-buffering kept every one read so far until the file was closed)."""
    group_rows, columns = 20_000, 16
    values = np.random.default_rng(0).random((group_rows, columns))
    group = pa.table({f"c{j}": pa.array(values[:, j]) for j in range(columns)})
    path = tmp_path / "big.parquet"
    with pq.ParquetWriter(path, group.schema, compression="none") as writer:
        for _ in range(8):
            writer.write_table(group)
    group_bytes = group.nbytes
    _, chunks = open_source(str(path), chunk_rows=5_000)
    before, held = pa.total_allocated_bytes(), 0
    for chunk in chunks:
        held = max(held, pa.total_allocated_bytes() - before)
        del chunk
    assert held < 3 * group_bytes, (
        f"{held / 2**20:.1f} MB held for row groups of {group_bytes / 2**20:.1f} MB"
    )
