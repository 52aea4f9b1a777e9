"""The Models and Datasets pages in a real browser: open a model, promote a version through the
confirmation page, and find the move in the audit ledger."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from modelplane.client import Client
from tests.browser.conftest import shot
from tests.e2e.test_platform import Up


@pytest.fixture(scope="module")
def trained(up: Up) -> Client:
    """iris (builtin) trained twice for one epoch, side by side: iris-mlp@1 (production) and @2."""
    admin = Client(up.url, up.admin_key)
    admin.datasets.add("iris", source="builtin:iris")
    jobs = [admin.jobs.train(data="iris", model="mlp", train={"epochs": 1}) for _ in range(2)]
    assert [admin.jobs.wait(job.id).state for job in jobs] == ["succeeded", "succeeded"]
    admin.models.alias("iris-mlp@1", "production")
    return admin


def test_promote_a_version_through_the_confirm_page(page: Page, up: Up, trained: Client) -> None:
    page.goto(up.url + "/ui/models")
    expect(page.locator("#models-table")).to_contain_text("iris-mlp")
    shot(page, "models")
    page.click("text=iris-mlp")
    expect(page.locator("h1")).to_have_text("iris-mlp")
    expect(page.locator("#versions-table")).to_contain_text("trained from run")
    shot(page, "model")
    page.select_option("#promote-version", "2")
    page.fill("#promote-alias", "production")
    page.click("#promote-go")
    expect(page.locator(".question")).to_contain_text("Move alias production of iris-mlp from v1 to v2?")
    shot(page, "promote-confirm")
    page.click("#confirm-go")
    expect(page.locator(".flash")).to_have_text("Moved alias production from v1 to v2")
    expect(page.locator("#alias-production")).to_contain_text("moved from v1 to v2")
    expect(page.locator("#alias-production .rollback")).to_have_text("Roll back to v1")
    moved = [e for e in trained.audit.log() if e.action == "model.alias.moved"]
    assert moved[0].target == "iris-mlp@production" and moved[0].details == {"from": 1, "to": 2}
    page.click("#alias-production .rollback")
    expect(page.locator(".question")).to_contain_text("Roll back alias production of iris-mlp from v2 to v1?")
    page.click("#cancel")
    expect(page.locator("#alias-production h3")).to_contain_text("v2")  # cancelled: nothing moved
    page.click("#v2 >> text=v2")
    expect(page.locator("h1")).to_contain_text("iris-mlp@2")
    expect(page.locator("#lineage")).to_contain_text("on dataset iris@1")
    shot(page, "model-version")


def test_datasets_and_a_dataset(page: Page, up: Up, trained: Client) -> None:
    page.goto(up.url + "/ui/datasets")
    expect(page.locator("#datasets-table")).to_contain_text("iris")
    shot(page, "datasets")
    page.click("#datasets-table >> text=iris")
    expect(page.locator("#balance")).to_contain_text("setosa")
    expect(page.locator("#schema")).to_contain_text("petal width (cm)")
    shot(page, "dataset")
