"""`data add NAME --from-feedback DEPLOYMENT`: labelled production rows become a dataset version laid out
like the model's training data, which a training run accepts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from modelplane.cli.context import platform
from modelplane.config import get_settings
from modelplane.data.catalog import load_arrays
from modelplane.data.from_feedback import add_from_feedback
from modelplane.data.ingest import IngestOptions
from modelplane.errors import Invalid
from modelplane.local import Local
from modelplane.monitoring.feedback import record_feedback
from modelplane.monitoring.log_ids import clear_cache
from tests.cli_helpers import run_cli
from tests.monitoring.log_helpers import write_log

IRIS = load_iris()
NAMES = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """iris (arrays) and a table with a category, each with a logreg deployed and 60 labelled rows logged
    an hour ago."""
    home = tmp_path_factory.mktemp("from-feedback")
    local = Local(home)
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="logreg")
    local.deploy({"model": "iris-logreg@1"}, name="iris")
    rng = np.random.default_rng(3)
    picked = rng.choice(len(IRIS.data), 60, replace=False)
    when = datetime.now(UTC) - timedelta(hours=1)
    rows = [
        {
            "request_id": f"r{n}",
            "time": when + timedelta(seconds=n),
            "label": "setosa",
            **{f"f:{name}": float(v) for name, v in zip(IRIS.feature_names, IRIS.data[i], strict=True)},
        }
        for n, i in enumerate(picked)
    ]
    write_log(home, "iris", rows, classes=NAMES, features=IRIS.feature_names)
    truth = [{"request_id": f"r{n}", "label": NAMES[IRIS.target[i]]} for n, i in enumerate(picked)]
    record_feedback(local.store, home, "iris", truth, key_id=None)

    csv = home / "plans.csv"
    lines = ["size,plan,churned"] + [
        f"{i % 7 + 0.5},{'ab'[i % 2]},{'yes' if i % 3 else 'no'}" for i in range(90)
    ]
    csv.write_text("\n".join(lines) + "\n")
    local.datasets.add("plans", source=str(csv), target="churned")
    local.train(data="plans", model="logreg")
    local.deploy({"model": "plans-logreg@1"}, name="plans")
    logged = [
        {"request_id": f"p{i}", "time": when, "label": "no", "f:size": i % 5 + 0.5, "f:plan": "ba"[i % 2]}
        for i in range(40)
    ]
    write_plans_log(home, logged)
    labels = [{"request_id": f"p{i}", "label": "yes" if i % 2 else "no"} for i in range(40)]
    record_feedback(local.store, home, "plans", labels, key_id=None)
    clear_cache()
    yield local
    local.close()


def write_plans_log(home: Path, rows: list[dict[str, object]]) -> None:
    """The plans log: a numeric and a categorical (text) feature."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = write_log(home, "plans", rows, classes=["no", "yes"], features=["size"])
    table = pq.read_table(path)
    table = table.append_column(pa.field("f:plan", pa.string()), pa.array([r["f:plan"] for r in rows]))
    pq.write_table(table.replace_schema_metadata(pq.read_schema(path).metadata), path)


def test_an_array_dataset_from_feedback_trains(local: Local) -> None:
    result = add_from_feedback(local.store, "iris-prod", "iris", since=timedelta(days=1))
    version = result.version
    template = local.datasets.get("iris@1")
    assert (version.num_rows, version.task, version.classes) == (60, "classification", template.classes)
    assert (version.feature_shape, version.feature_dtype, version.format) == (
        template.feature_shape,
        template.feature_dtype,
        template.format,
    )
    features, target = load_arrays(local.store, version)
    assert features.shape == (60, 4) and target is not None
    assert "60 labelled predictions of iris" in result.notices
    assert local.train(data="iris-prod", model="logreg").status == "succeeded"


def test_an_existing_dataset_gets_its_rows_then_the_feedback_rows(local: Local) -> None:
    result = add_from_feedback(local.store, "iris", "iris")
    version = result.version
    assert (version.ref, version.num_rows, version.new_rows_start) == ("iris@2", 210, 150)
    features, _ = load_arrays(local.store, version)
    before, _ = load_arrays(local.store, local.datasets.get("iris@1"))
    assert np.array_equal(np.asarray(features[:150]), np.asarray(before))


def test_a_table_dataset_keeps_its_columns_and_roles_and_trains(local: Local) -> None:
    version = add_from_feedback(local.store, "plans-prod", "plans").version
    template = local.datasets.get("plans@1")
    assert version.columns == template.columns and version.target_name == "churned"
    assert (version.num_rows, version.classes) == (40, template.classes)
    assert local.train(data="plans-prod", model="logreg").status == "succeeded"


def test_features_logged_by_position_are_read_too(local: Local) -> None:
    """A model that names no columns logs f0, f1, ... (monitoring/frames.py)."""
    local.deploy({"model": "iris-logreg@1"}, name="iris-t")
    home = local.store.settings.home
    rows = [
        {
            "request_id": f"t{i}",
            "time": datetime.now(UTC),
            "label": "setosa",
            **{f"f:f{j}": float(i) for j in range(4)},
        }
        for i in range(3)
    ]
    write_log(home, "iris-t", rows, classes=NAMES, features=[f"f{j}" for j in range(4)])
    record_feedback(
        local.store, home, "iris-t", [{"request_id": f"t{i}", "label": i} for i in range(3)], key_id=None
    )
    version = add_from_feedback(local.store, "iris-t", "iris-t").version
    features, target = load_arrays(local.store, version)
    assert np.asarray(features).tolist() == [[float(i)] * 4 for i in range(3)]
    assert target is not None and [version.classes[t] for t in np.asarray(target)] == NAMES


def test_no_feedback_in_the_window_is_refused(local: Local) -> None:
    with pytest.raises(Invalid, match="no logged prediction of iris has feedback in the last 10m"):
        add_from_feedback(local.store, "iris-recent", "iris", since=timedelta(minutes=10))
    with pytest.raises(Invalid, match="--target cannot be used with --from-feedback"):
        add_from_feedback(local.store, "iris-x", "iris", options=IngestOptions(target="y"))
    assert "iris-recent" not in {d.name for d in local.datasets.list()}


def test_the_cli_adds_from_feedback(
    local: Local, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELPLANE_HOME", str(local.store.settings.home))
    get_settings.cache_clear()
    platform.cache_clear()
    added = run_cli(capsys, "data", "add", "iris-cli", "--from-feedback", "iris", "--since", "7d", "--json")
    assert added.code == 0, added.err
    assert added.json()["num_rows"] == 60 and added.json()["source"] == "feedback:iris"
    both = run_cli(capsys, "data", "add", "x", "--from", "builtin:iris", "--from-feedback", "iris")
    assert both.code != 0 and "give one source" in both.err
    platform.cache_clear()
