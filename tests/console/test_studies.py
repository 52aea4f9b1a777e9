"""The tuning pages: the studies table and one study's trials, history chart and importances."""

from __future__ import annotations

import re

import pytest

from modelplane.local import Local
from modelplane.tuning.views import StudyInfo
from tests.console.conftest import Console
from tests.console.test_runs import embedded


@pytest.fixture
def tuned(console: Console) -> StudyInfo:
    local = Local()
    local.datasets.add("iris", source="builtin:iris")
    return local.tune(data="iris", model="logreg", trials=5, name="iris-c")


def test_the_studies_table(console: Console, tuned: StudyInfo) -> None:
    page = console.signed_in().get("/ui/studies")
    assert page.status_code == 200
    row = re.search(r'<tr data-study="iris-c">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    cells = row.group(1)
    assert 'href="/ui/studies/iris-c"' in cells and "logreg" in cells and "iris@1" in cells
    assert "5 / 5" in cells and f"{tuned.best_value:.4f}" in cells and "finished" in cells


def test_a_study_page(console: Console, tuned: StudyInfo) -> None:
    page = console.signed_in().get("/ui/studies/iris-c")
    assert page.status_code == 200
    history = embedded(page.text, "study-history")
    assert isinstance(history, dict)
    assert history["x"] == [0, 1, 2, 3, 4]
    values, best = (s["values"] for s in history["series"])
    assert best[-1] == tuned.best_value == max(v for v in values if v is not None)
    assert all(b >= v for b, v in zip(best, values, strict=True) if v is not None)
    assert page.text.count('<tr class="best">') == 1
    assert len(re.findall(r"<td class=\"num\">\d+</td>\s*<td><span class=\"badge", page.text)) == 5
    importances = re.search(r'<div class="card" id="importances">(.*?)</div>\s*</div>', page.text, re.S)
    assert importances and ("C</td>" in importances.group(1) or "no parameter made" in importances.group(1))


def test_a_study_with_few_trials_says_why_there_are_no_importances(console: Console) -> None:
    local = Local()
    local.datasets.add("iris", source="builtin:iris")
    local.tune(data="iris", model="logreg", trials=2, name="short")
    page = console.signed_in().get("/ui/studies/short")
    assert "needs 5 completed trials, has 2" in page.text


def test_unknown_study_and_consumer(console: Console) -> None:
    client = console.signed_in()
    missing = client.get("/ui/studies/nope")
    assert missing.status_code == 404 and "study &#39;nope&#39; not found" in missing.text
    assert "No studies yet" in client.get("/ui/studies").text
    consumer = console.signed_in(console.key("consumer", "iris-api"))
    assert consumer.get("/ui/studies").status_code == 403
    assert consumer.get("/ui/studies/nope").status_code == 403
