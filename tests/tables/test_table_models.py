"""A customer table from file to answers: roles at ingest, the preprocessing fitted on the training split and
stored with the version, served as part of the model, and every path (predict, batch, evaluate, compress)
reading the raw named columns through that one fitted graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from modelplane.errors import Invalid
from modelplane.local import Local
from modelplane.registry.tables import PREP_FORMAT, preprocessor_of
from tests.tables.customers import HEADER, write_customers


@pytest.fixture
def local() -> Local:
    platform = Local()
    yield platform
    platform.close()


@pytest.fixture
def trained(local: Local, tmp_path: Path) -> str:
    source = write_customers(tmp_path / "customers.csv", 600, seed=1)
    local.datasets.add("customers", source=str(source), target="churned")
    run = local.train({"data": "customers", "model": "logreg"})
    assert run.status == "succeeded", run.error
    local.deploy({"model": "customers-logreg@1"})
    return "customers-logreg"


def test_the_version_carries_its_fitted_preprocessing(local: Local, trained: str) -> None:
    version = local.models.version(f"{trained}@1")
    assert PREP_FORMAT in version.artifacts
    prep = preprocessor_of(local.store, version)
    assert prep is not None
    assert [c.name for c in prep.columns] == ["signup_date", "plan", "region", "tenure", "spend", "autopay"]
    assert version.input_shape == [prep.width]  # the model reads the features the preprocessing makes
    assert version.metrics["preprocess_max_abs_diff"] <= 1e-4
    assert version.metrics["test"]["accuracy"] >= 0.85  # plan, tenure and month decide churn
    assert version.classes == ["no", "yes"]


def test_predict_reads_raw_columns_by_name_in_any_order(local: Local, trained: str, tmp_path: Path) -> None:
    ordered = write_customers(tmp_path / "rows.csv", 40, seed=7)
    shuffled_order = ["churned", "spend", "plan", "autopay", "customer_id", "tenure", "region", "signup_date"]
    shuffled = write_customers(tmp_path / "shuffled.csv", 40, seed=7, columns=shuffled_order)
    first = local.predict(trained, ordered)
    second = local.predict(trained, shuffled)
    assert np.allclose(first["probabilities"], second["probabilities"])
    assert list(first["label"]) == list(second["label"])
    truth = [line.split(",")[-1] for line in ordered.read_text().splitlines()[1:]]
    labels = [str(label) for label in first["label"]]
    assert sum(a == b for a, b in zip(labels, truth, strict=True)) >= 32


def test_missing_column_and_bad_date_are_refused_naming_them(
    local: Local, trained: str, tmp_path: Path
) -> None:
    without_plan = write_customers(tmp_path / "noplan.csv", 5, columns=[c for c in HEADER if c != "plan"])
    with pytest.raises(Invalid, match="plan"):
        local.predict(trained, without_plan)
    bad = tmp_path / "baddate.csv"
    rows = write_customers(tmp_path / "ok.csv", 3).read_text().splitlines()
    rows[2] = rows[2].replace("2023-", "2023-13-", 1)
    bad.write_text("\n".join(rows) + "\n")
    with pytest.raises(Invalid, match="signup_date"):
        local.predict(trained, bad)


def test_batch_keeps_ids_and_answers_like_predict(local: Local, trained: str, tmp_path: Path) -> None:
    rows = write_customers(tmp_path / "rows.csv", 50, seed=9)
    output = tmp_path / "out.parquet"
    job = local.batch(trained, rows, output, id_column="customer_id")
    assert job.state == "succeeded", job.error
    written = pq.read_table(output)
    assert written.column("customer_id").to_pylist()[:2] == ["C10000", "C10001"]
    expected = local.predict(trained, rows)
    assert [str(v) for v in written.column("label").to_pylist()] == [str(v) for v in expected["label"]]


def test_evaluate_reads_the_table_through_the_version(local: Local, trained: str) -> None:
    report = local.evaluate(f"{trained}@1", "customers")
    version = local.models.version(f"{trained}@1")
    assert report.metrics["accuracy"] == pytest.approx(version.metrics["test"]["accuracy"], abs=1e-9)


def test_an_mlp_on_the_table_exports_one_graph_of_named_columns(local: Local, tmp_path: Path) -> None:
    source = write_customers(tmp_path / "customers.csv", 400, seed=2)
    local.datasets.add("customers", source=str(source), target="churned")
    run = local.train({"data": "customers", "model": "mlp", "train": {"epochs": 3}})
    assert run.status == "succeeded", run.error
    files = local.export("customers-mlp@1", "onnx", tmp_path / "out")
    graph = next(p for p in files if p.suffix == ".onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(str(graph))
    names = [i.name for i in session.get_inputs()]
    assert set(names) == {"signup_date", "plan", "region", "tenure", "spend", "autopay"}
    sidecar = json.loads(next(p for p in files if p.suffix == ".json").read_text())
    assert sidecar  # what the graph reads and answers is described next to it


def test_one_class_is_refused_with_the_count(local: Local, tmp_path: Path) -> None:
    source = tmp_path / "one.csv"
    source.write_text("x,y,label\n" + "".join(f"{i % 5},{i % 3},yes\n" for i in range(30)))
    with pytest.raises(Invalid, match=r"one class \('yes', 30 rows\)"):
        local.datasets.add("one", source=str(source), target="label")
    assert local.datasets.list() == []
