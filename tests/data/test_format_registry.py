"""The format registry: one table names every format by file, each format is one module that ingest and
batch prediction both read through, and naming a format needs no pyarrow (the HTTP client does it)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelplane.data.formats.registry import (
    FORMATS,
    DataFormat,
    InputReader,
    SourceReader,
    TableReader,
    check_batch_input,
)
from modelplane.data.inputs import inspect_input, read_chunks
from modelplane.data.sources import open_source
from modelplane.errors import Invalid


def _parameters(function: object) -> tuple[int, list[str]]:
    """How many positional parameters, and the names of the keyword-only ones."""
    found = [p for p in inspect.signature(function).parameters.values() if p.name != "self"]
    keywords = [p.name for p in found if p.kind is p.KEYWORD_ONLY]
    return len(found) - len(keywords), keywords


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=lambda fmt: fmt.name)
def test_every_format_module_has_the_readers_its_entry_promises(fmt: DataFormat) -> None:
    module = fmt.reader()
    promised: list[type] = [InputReader if fmt.batch_input else SourceReader]
    if fmt.named_columns:
        promised.append(TableReader)
    for protocol in promised:
        for name in ("open_source", "inspect_input", "read_rows", "table_columns", "read_table"):
            if hasattr(protocol, name):
                assert _parameters(getattr(module, name)) == _parameters(getattr(protocol, name)), name


def test_naming_a_batch_input_imports_no_pyarrow(tmp_path: Path) -> None:
    (tmp_path / "rows.parquet").write_bytes(b"")
    script = (
        "import sys; from pathlib import Path; "
        "from modelplane.data.formats.registry import check_batch_input; "
        "from modelplane.jobs.batch.paths import check_output; "
        f"print(check_batch_input(Path({str(tmp_path / 'rows.parquet')!r})).name, 'pyarrow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["parquet", "False"]


def test_a_new_format_is_one_module_and_one_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toy = DataFormat(
        "jsonl", "tests.data.toy_jsonl", suffixes=(".jsonl",), described=".jsonl", batch_input=True
    )
    source, rows = tmp_path / "train.jsonl", tmp_path / "predict.jsonl"
    source.write_text("".join(json.dumps({"x": [i, i + 1], "y": i % 2}) + "\n" for i in range(5)))
    rows.write_text("".join(json.dumps({"x": [i, -i], "id": 100 + i}) + "\n" for i in range(5)))
    with pytest.raises(Invalid, match="unknown format"):
        open_source(str(source))
    with pytest.raises(Invalid, match=r"give a \.csv, \.tsv, \.parquet, \.pq, \.npz file"):
        check_batch_input(rows)

    monkeypatch.setitem(FORMATS, "jsonl", toy)
    schema, chunks = open_source(str(source), chunk_rows=2)
    assert schema.format == "jsonl" and [len(c.features) for c in chunks] == [2, 2, 1]
    layout = inspect_input(rows, id_column="id", input_shape=[2], trained_names=None)
    assert layout.rows == 5
    resumed = list(read_chunks(rows, layout, chunk_rows=2, skip_chunks=1))
    assert [ids.to_pylist() for _, ids in resumed] == [[102, 103], [104]]
    assert np.array_equal(resumed[0][0], [[2, -2], [3, -3]])
