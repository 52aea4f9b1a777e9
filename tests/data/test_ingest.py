from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelplane.data.catalog import get_version, list_datasets, list_versions, load_arrays
from modelplane.data.ingest import IngestOptions, add_dataset
from modelplane.errors import Invalid, NotFound
from modelplane.store import Store


def _csv(path: Path, rows: range, label: str = "label") -> Path:
    lines = "".join(f"{i % 10},{i * 0.5},{'cat' if i % 3 else 'dog'}\n" for i in rows)
    path.write_text(f"a,b,{label}\n" + lines)
    return path


def test_builtin_digits_becomes_a_classification_version(store: Store) -> None:
    result = add_dataset(store, "digits", "builtin:digits")
    v = result.version
    assert result.created and v.ref == "digits@1" and v.num_rows == 1797
    assert v.task == "classification" and v.classes == [str(d) for d in range(10)]
    assert v.feature_shape == [64] and v.image_shape == [1, 8, 8]
    assert sum(v.stats["class_counts"].values()) == 1797
    features, target = load_arrays(store, v)
    assert features.shape == (1797, 64) and target is not None and target.dtype == np.int64


def test_identical_content_adds_no_version(store: Store, tmp_path: Path) -> None:
    first = add_dataset(
        store, "pets", str(_csv(tmp_path / "p.csv", range(30))), IngestOptions(target="label")
    )
    again = add_dataset(
        store, "pets", str(_csv(tmp_path / "q.csv", range(30))), IngestOptions(target="label", chunk_rows=7)
    )
    assert not again.created and again.version.content_hash == first.version.content_hash
    assert [v.version for v in list_versions(store, "pets")] == [1]


def test_grown_file_is_a_child_version_that_knows_its_new_rows(store: Store, tmp_path: Path) -> None:
    add_dataset(store, "pets", str(_csv(tmp_path / "p.csv", range(30))), IngestOptions(target="label"))
    grown = add_dataset(
        store, "pets", str(_csv(tmp_path / "p2.csv", range(45))), IngestOptions(target="label")
    )
    v = grown.version
    assert v.version == 2 and v.parent_version == 1 and v.num_rows == 45 and v.new_rows_start == 30


def test_append_adds_rows_to_the_latest_version_and_keeps_class_order(store: Store, tmp_path: Path) -> None:
    add_dataset(store, "pets", str(_csv(tmp_path / "p.csv", range(30))), IngestOptions(target="label"))
    extra = tmp_path / "extra.csv"
    extra.write_text("a,b,label\n100,50.0,cat\n101,50.5,bird\n")
    v = add_dataset(store, "pets", str(extra), IngestOptions(target="label", append=True)).version
    assert v.num_rows == 32 and v.new_rows_start == 30 and v.parent_version == 1
    assert v.classes == ["cat", "dog", "bird"]
    features, target = load_arrays(store, v)
    assert features[-1].tolist() == [101.0, 50.5] and target is not None and target[-1] == 2


def test_append_with_other_columns_is_refused(store: Store, tmp_path: Path) -> None:
    add_dataset(store, "pets", str(_csv(tmp_path / "p.csv", range(30))), IngestOptions(target="label"))
    other = tmp_path / "other.csv"
    other.write_text("a,c,label\n1,2,cat\n")
    with pytest.raises(Invalid, match=r"its columns differ \(missing b; extra c\)"):
        add_dataset(store, "pets", str(other), IngestOptions(target="label", append=True))
    with pytest.raises(NotFound, match="without --append"):
        add_dataset(store, "fresh", str(other), IngestOptions(target="label", append=True))
    assert [v.version for v in list_versions(store, "pets")] == [1]


def test_task_inference_and_override(store: Store, tmp_path: Path) -> None:
    reg = tmp_path / "reg.csv"
    reg.write_text("x,y\n" + "".join(f"{i % 9},{i * 1.5 + 0.25}\n" for i in range(40)))
    assert add_dataset(store, "reg", str(reg), IngestOptions(target="y")).version.task == "regression"
    ints = tmp_path / "ints.csv"
    ints.write_text("x,y\n" + "".join(f"{i % 9},{i % 4}\n" for i in range(40)))
    assert add_dataset(store, "ints", str(ints), IngestOptions(target="y")).version.classes == [
        "0",
        "1",
        "2",
        "3",
    ]
    as_reg = add_dataset(store, "ints2", str(ints), IngestOptions(target="y", task="regression")).version
    assert as_reg.task == "regression" and as_reg.stats["target_max"] == 3.0
    with pytest.raises(Invalid, match="non-integer"):
        add_dataset(store, "bad", str(reg), IngestOptions(target="y", task="classification"))


def test_target_mixing_numbers_and_text_is_refused(store: Store, tmp_path: Path) -> None:
    mixed = tmp_path / "m.csv"
    mixed.write_text("x,y\n" + "".join(f"{i % 5},{i % 2}\n" for i in range(20)) + "21,maybe\n")
    with pytest.raises(Invalid, match="mixes numbers and text"):
        add_dataset(store, "m", str(mixed), IngestOptions(target="y", chunk_rows=10))
    assert list_datasets(store) == []


def test_failed_ingest_leaves_no_temp_files(store: Store, tmp_path: Path) -> None:
    """A target value missing far into the file fails the ingest after chunks were written."""
    late = tmp_path / "n.csv"
    late.write_text("x,y\n" + "".join(f"{i % 5},{'' if i == 90 else i % 2}\n" for i in range(100)))
    with pytest.raises(Invalid, match="target column 'y' has 1 missing value"):
        add_dataset(store, "n", str(late), IngestOptions(target="y", chunk_rows=10))
    assert list(store.artifacts.tmp_dir.iterdir()) == []
    assert list_datasets(store) == []


def test_version_refs(store: Store) -> None:
    add_dataset(store, "iris", "builtin:iris")
    assert get_version(store, "iris@1").num_rows == 150
    with pytest.raises(NotFound, match="no version 4"):
        get_version(store, "iris@4")
    with pytest.raises(NotFound, match="data add"):
        get_version(store, "wine")
