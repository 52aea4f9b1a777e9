"""Runs and tuning in a real browser: the table filtered, a run's curves, two runs compared, a study."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from modelplane.client import Client
from modelplane.local import Local
from modelplane.training.run_views import RunInfo
from tests.browser.conftest import DATASET, shot
from tests.e2e.test_platform import Up


@pytest.fixture(scope="module")
def runs(up: Up) -> list[RunInfo]:
    """A trained run and a study made in-process on the server's home (through the server's job worker
    they take half a minute each), and a run tracked through the server's API."""
    local = Local(home=up.log.parent)
    try:
        trained = local.train(data=DATASET, model="mlp", name="runs-mlp", train={"epochs": 3})
        local.tune(data=DATASET, model="logreg", trials=5, name="iris-c")
    finally:
        local.store.close()
    client = Client(up.url, up.admin_key)
    with client.runs.start("hand-rolled", params={"lr": 0.1}) as run:
        for step, loss in enumerate([1.2, 0.7, 0.4, 0.3]):
            run.log_metrics({"loss": loss, "accuracy": 1 - loss / 2}, step=step)
    return [trained, client.runs.get(run.id)]


def test_runs_table_run_page_and_compare(page: Page, up: Up, runs: list[RunInfo]) -> None:
    trained, hand = runs
    page.goto(f"{up.url}/ui/runs")
    table = page.locator("#runs-table tbody tr:visible")
    for run in runs:  # other browser tests' runs share this server: find ours
        expect(page.locator(f'#runs-table input[value="{run.id}"]')).to_be_visible()
    shot(page, "runs")
    page.fill("#runs-filter", "hand-rolled")
    expect(table).to_have_count(1)
    page.fill("#runs-filter", "")

    page.check(f'input[value="{trained.id}"]')
    expect(page.locator("#compare-button")).to_be_disabled()
    page.check(f'input[value="{hand.id}"]')
    page.click("#compare-button")
    expect(page.locator("h1")).to_have_text("Compare 2 runs")
    expect(page.locator("#param-diff")).to_be_visible()
    expect(page.locator(".chart canvas").first).to_be_visible()
    shot(page, "runs-compare")

    page.goto(f"{up.url}/ui/runs?status=succeeded&model=runs-mlp")
    expect(table).to_have_count(1)
    page.click(f'a[href="/ui/runs/{trained.id}"]')
    expect(page.locator("#loss-chart canvas")).to_be_visible()
    expect(page.locator("#metric-chart canvas")).to_be_visible()
    expect(page.locator("#model-version")).to_have_text("runs-mlp@1")
    shot(page, "run")


def test_studies_and_a_study(page: Page, up: Up, runs: list[RunInfo]) -> None:
    page.goto(f"{up.url}/ui/studies")
    expect(page.locator('tr[data-study="iris-c"]')).to_contain_text("5 / 5")
    shot(page, "studies")
    page.click('a[href="/ui/studies/iris-c"]')
    expect(page.locator("#history-chart canvas")).to_be_visible()
    expect(page.locator("#trials-table tbody tr")).to_have_count(5)
    shot(page, "study")
