"""The Datasets pages over a real catalog: the list, versions with lineage, schema and class balance."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from modelplane.data.ingest import IngestOptions, add_dataset
from modelplane.store.orm import DatasetVersion
from tests.console.conftest import Console

ROWS = "id,size,colour,label\n" + "".join(
    f"{i},{i * 0.5},{'red' if i % 3 else 'blue'},{'yes' if i % 4 else 'no'}\n" for i in range(40)
)
MORE = "id,size,colour,label\n" + "".join(f"{i},{i * 0.5},red,yes\n" for i in range(40, 50))


@pytest.fixture
def catalog(console: Console, tmp_path: Path) -> Console:
    """iris@1 (builtin arrays) and fruit@1 (a CSV table) + fruit@2 (10 rows appended)."""
    first, more = tmp_path / "fruit.csv", tmp_path / "more.csv"
    first.write_text(ROWS)
    more.write_text(MORE)
    add_dataset(console.store, "iris", "builtin:iris", by="alice")
    add_dataset(console.store, "fruit", str(first), IngestOptions(target="label"), by="alice")
    add_dataset(console.store, "fruit", str(more), IngestOptions(target="label", append=True), by="bob")
    return console


def test_the_list_shows_each_dataset(catalog: Console) -> None:
    page = catalog.signed_in().get("/ui/datasets")
    assert page.status_code == 200
    text = " ".join(page.text.split())
    fruit = '<a href="/ui/datasets/fruit">fruit</a></td> <td class="num">2</td>'
    assert fruit + ' <td class="num" data-sort="50">50</td>' in text
    assert "classification · target" in text and "classification · label" in text


def test_a_dataset_shows_versions_lineage_schema_and_class_balance(catalog: Console) -> None:
    client = catalog.signed_in()
    text = " ".join(client.get("/ui/datasets/fruit").text.split())
    assert "appended 10 rows to v1 (read from" in text
    assert "<td>size</td><td>numeric</td><td>feature</td>" in text
    assert "<td>colour</td><td>categorical</td><td>feature</td>" in text
    assert "<td>label</td><td>class</td><td>target</td>" in text
    assert '<td>no</td><td class="num">10</td>' in text and '<td>yes</td><td class="num">40</td>' in text
    assert "From the class counts stored with the version." in text
    first = " ".join(client.get("/ui/datasets/fruit?version=1").text.split())
    assert "Schema of v1" in first and '<td>yes</td><td class="num">30</td>' in first


def test_class_counts_missing_from_the_stats_are_counted_from_the_target(catalog: Console) -> None:
    with catalog.store.db.session() as session:
        session.execute(update(DatasetVersion).values(stats={}))
    text = " ".join(catalog.signed_in().get("/ui/datasets/iris").text.split())
    assert '<td>setosa</td><td class="num">50</td>' in text
    assert "Counted now from the version's stored target column" in text
    assert "<td>sepal length (cm)</td><td>float32</td><td>feature</td>" in text
    assert "the builtin dataset iris" in text


def test_unknown_datasets_and_versions_are_404_and_consumers_403(catalog: Console) -> None:
    client = catalog.signed_in()
    assert client.get("/ui/datasets/nope").status_code == 404
    missing = client.get("/ui/datasets/fruit?version=7")
    assert missing.status_code == 404 and "has no version 7; its versions are 1, 2" in missing.text
    consumer = catalog.signed_in(catalog.key("consumer", "iris"))
    assert consumer.get("/ui/datasets").status_code == 403
    assert consumer.get("/ui/datasets/fruit").status_code == 403
