"""The runs pages: the table (filters, sort, paging), one run with its curves, runs compared, roles."""

from __future__ import annotations

import json
import re

from modelplane.local import Local
from modelplane.store import Store
from modelplane.training import tracking
from modelplane.training.run_handle import MetricPoint
from tests.console.conftest import Console


def tracked(
    store: Store, name: str, losses: list[float], *, lr: str = "0.1", status: str = "succeeded"
) -> str:
    """A tracked run with a loss and an accuracy per step, as your own training code logs them."""
    run_id = tracking.start(store, name, params={"lr": lr, "layers": "2"}, by="test")
    points = [MetricPoint("loss", v, step) for step, v in enumerate(losses)]
    points += [MetricPoint("accuracy", 1 - v / 2, step) for step, v in enumerate(losses)]
    tracking.log_run(store, run_id, metrics=points)
    tracking.end_run(store, run_id, status)
    return run_id


def embedded(html: str, element: str) -> object:
    found = re.search(rf'<script id="{element}" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"no {element} data in the page"
    return json.loads(found.group(1))


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-run="([^"]+)"', html)


def test_a_trained_run_in_the_table_and_on_its_page(console: Console) -> None:
    local = Local()
    local.datasets.add("iris", source="builtin:iris")
    run = local.train(data="iris", model="mlp", train={"epochs": 2})
    client = console.signed_in()

    table = client.get("/ui/runs")
    assert table.status_code == 200
    assert row_ids(table.text) == [run.id]
    assert "iris@1" in table.text and "mlp" in table.text and 'title="accuracy"' in table.text

    page = client.get(f"/ui/runs/{run.id}")
    assert page.status_code == 200
    assert '<a id="model-version" href="/ui/models/iris-mlp">iris-mlp@1</a>' in page.text
    assert 'href="/ui/datasets/iris"' in page.text and "train.lr" in page.text
    curves = embedded(page.text, "run-curves")
    assert isinstance(curves, dict) and curves["axis"] == "epoch" and curves["x"] == [1.0, 2.0]
    assert {s["label"] for s in curves["losses"]} == {"train_loss", "val_loss"}
    assert "val_accuracy" in {s["label"] for s in curves["metrics"]}
    assert all(len(s["values"]) == 2 for s in curves["losses"] + curves["metrics"])


def test_filters_sort_and_text(console: Console) -> None:
    fast = tracked(console.store, "fast", [0.9, 0.5, 0.2])
    slow = tracked(console.store, "slow", [1.0, 0.9], lr="0.01", status="failed")
    client = console.signed_in()

    assert row_ids(client.get("/ui/runs").text) == [slow, fast]  # newest first
    assert row_ids(client.get("/ui/runs?sort=started&order=asc").text) == [fast, slow]
    assert row_ids(client.get("/ui/runs?status=failed").text) == [slow]
    assert row_ids(client.get("/ui/runs?text=FAS").text) == [fast]
    assert row_ids(client.get("/ui/runs?model=tracked&status=succeeded").text) == [fast]
    assert row_ids(client.get("/ui/runs?dataset=iris").text) == []
    assert 'data-filter-table="runs-table"' in client.get("/ui/runs").text

    for column in ("id", "status", "kind", "model", "dataset", "duration"):
        assert sorted(row_ids(client.get(f"/ui/runs?sort={column}").text)) == sorted([fast, slow])
    assert row_ids(client.get("/ui/runs?sort=id&order=asc").text) == sorted([fast, slow])

    refused = client.get("/ui/runs?sort=colour")
    assert refused.status_code == 400 and "cannot sort runs by" in refused.text
    assert client.get("/ui/runs?order=sideways").status_code == 400
    assert "is a number" in client.get("/ui/runs?dataset=iris@x").text


def test_the_table_pages_the_newest_hundred(console: Console) -> None:
    for n in range(102):
        tracking.start(console.store, f"r{n}", by="test")
    client = console.signed_in()
    first = client.get("/ui/runs")
    assert len(row_ids(first.text)) == 100 and "showing 1–100" in first.text
    assert 'id="older"' in first.text and 'id="newer"' not in first.text
    second = client.get("/ui/runs?offset=100")
    assert len(row_ids(second.text)) == 2 and 'id="newer"' in second.text
    assert not set(row_ids(first.text)) & set(row_ids(second.text))


def test_a_tracked_run_has_step_curves(console: Console) -> None:
    run_id = tracked(console.store, "steps", [0.9, 0.5, 0.2])
    page = console.signed_in().get(f"/ui/runs/{run_id}")
    curves = embedded(page.text, "run-curves")
    assert isinstance(curves, dict) and curves["axis"] == "step" and curves["x"] == [0.0, 1.0, 2.0]
    assert curves["losses"] == [{"label": "loss", "values": [0.9, 0.5, 0.2]}]
    assert [s["label"] for s in curves["metrics"]] == ["accuracy"]
    assert "no version registered" in page.text


def test_compare_overlays_curves_and_highlights_differing_params(console: Console) -> None:
    a = tracked(console.store, "a", [0.9, 0.5, 0.2])
    b = tracked(console.store, "b", [1.0, 0.9], lr="0.01")
    client = console.signed_in()
    for url in (f"/ui/runs/compare?ids={a},{b}", f"/ui/runs/compare?ids={a}&ids={b}"):
        page = client.get(url)
        assert page.status_code == 200, page.text
        charts = embedded(page.text, "compare-curves")
        assert isinstance(charts, list) and [c["metric"] for c in charts] == ["accuracy", "loss"]
        loss = charts[1]
        assert loss["x"] == [0, 1, 2]
        assert loss["series"] == [
            {"label": a, "values": [0.9, 0.5, 0.2]},
            {"label": b, "values": [1.0, 0.9, None]},
        ]
        differing = re.findall(r'<tr class="differs"><td>([^<]+)</td>', page.text)
        assert differing == ["lr"]


def test_compare_needs_two_to_four_runs(console: Console) -> None:
    ids = [tracked(console.store, f"r{n}", [0.5]) for n in range(5)]
    client = console.signed_in()
    for chosen in (ids[:1], ids):
        page = client.get("/ui/runs/compare?ids=" + ",".join(chosen))
        assert page.status_code == 400
        assert "compare 2 to 4 runs at once" in page.text
    missing = client.get(f"/ui/runs/compare?ids={ids[0]},nope")
    assert missing.status_code == 404


def test_an_unknown_run_is_a_404_page(console: Console) -> None:
    page = console.signed_in().get("/ui/runs/nosuchrun")
    assert page.status_code == 404 and "run &#39;nosuchrun&#39; not found" in page.text


def test_a_consumer_may_not_read_runs(console: Console) -> None:
    run_id = tracked(console.store, "a", [0.5])
    client = console.signed_in(console.key("consumer", "iris-api"))
    for path in ("/ui/runs", f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/curves", "/ui/runs/compare?ids=a,b"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert "models:read" in page.text or "not allowed" in page.text
    assert 'href="/ui/runs"' not in client.get("/ui/").text


def test_a_running_run_page_polls_its_curves(console: Console) -> None:
    run_id = tracking.start(console.store, "live", by="test")
    client = console.signed_in()
    assert f"/ui/runs/{run_id}/curves" in client.get(f"/ui/runs/{run_id}").text
    points = [MetricPoint("loss", 0.5, 0), MetricPoint("loss", 0.4, 1)]
    tracking.log_run(console.store, run_id, metrics=points)
    fresh = client.get(f"/ui/runs/{run_id}/curves").json()
    assert fresh["status"] == "running" and fresh["x"] == [0.0, 1.0]
    assert fresh["losses"] == [{"label": "loss", "values": [0.5, 0.4]}]
    tracking.end_run(console.store, run_id, "succeeded")
    assert "/curves" not in client.get(f"/ui/runs/{run_id}").text
