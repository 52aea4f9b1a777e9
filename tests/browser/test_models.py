"""The Models and Datasets pages in a real browser: open a model, promote a version through the
confirmation page, and find the move in the audit ledger.

The shared server's `iris-mlp@production` is left as it is (other pages' tests serve it): the promotion
moves an alias of a model of this module's own, two ONNX graphs imported and evaluated on iris."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from modelplane.client import Client
from tests.browser.conftest import DATASET, MODEL, shot
from tests.e2e.test_platform import Up
from tests.registry.import_files import linear_onnx

IMPORTED = "iris-linear"


@pytest.fixture(scope="module")
def imported(up: Up, tmp_path_factory: pytest.TempPathFactory) -> Client:
    """iris-linear@1 (production) and @2, imported through the API and evaluated on iris."""
    admin = Client(up.url, up.admin_key)
    folder = tmp_path_factory.mktemp("onnx")
    for i, path in enumerate((folder / "linear.onnx", folder / "softmax.onnx")):
        made = admin.models.import_model(
            IMPORTED,
            linear_onnx(path, softmax=bool(i)),
            task="classification",
            classes=("setosa", "versicolor", "virginica"),
            data=DATASET,
            evaluate=True,
        )
        assert made.version == i + 1
    admin.models.alias(f"{IMPORTED}@1", "production")
    return admin


def test_promote_a_version_through_the_confirm_page(page: Page, up: Up, imported: Client) -> None:
    page.goto(up.url + "/ui/models")
    expect(page.locator("#models-table")).to_contain_text(IMPORTED)
    expect(page.locator("#models-table")).to_contain_text(MODEL)
    shot(page, "models")
    page.click(f"#models-table >> text={IMPORTED}")
    expect(page.locator("h1")).to_have_text(IMPORTED)
    expect(page.locator("#versions-table")).to_contain_text("imported from onnx softmax.onnx")
    page.select_option("#promote-version", "2")
    page.fill("#promote-alias", "production")
    page.click("#promote-go")
    expect(page.locator(".question")).to_contain_text(f"Move alias production of {IMPORTED} from v1 to v2?")
    shot(page, "promote-confirm")
    page.click("#confirm-go")
    expect(page.locator(".flash")).to_have_text("Moved alias production from v1 to v2")
    expect(page.locator("#alias-production")).to_contain_text("moved from v1 to v2")
    moved = [e for e in imported.audit.log() if e.action == "model.alias.moved"]
    assert moved[0].target == f"{IMPORTED}@production" and moved[0].details == {"from": 1, "to": 2}
    page.goto(f"{up.url}/ui/audit?action=model.alias.moved")  # the same entry, found in the console
    entry = page.locator("#audit tbody tr", has_text=f"{IMPORTED}@production").first
    expect(entry).to_contain_text("model.alias.moved")
    expect(entry).to_contain_text(str(moved[0].seq))
    page.goto(f"{up.url}/ui/models/{IMPORTED}")
    page.click("#alias-production .rollback")
    expect(page.locator(".question")).to_contain_text(
        f"Roll back alias production of {IMPORTED} from v2 to v1?"
    )
    page.click("#cancel")
    expect(page.locator("#alias-production h3")).to_contain_text("v2")  # cancelled: nothing moved
    shot(page, "model")  # with the alias's history


def test_a_version_page_shows_lineage_and_the_deployment_serving_it(page: Page, up: Up) -> None:
    page.goto(f"{up.url}/ui/models/{MODEL}/versions/1")
    expect(page.locator("#lineage")).to_contain_text("trained from run")
    expect(page.locator("#lineage")).to_contain_text(f"on dataset {DATASET}@1")
    expect(page.locator("#deployments")).to_contain_text(MODEL)
    shot(page, "model-version")


def test_datasets_and_a_dataset(page: Page, up: Up) -> None:
    page.goto(up.url + "/ui/datasets")
    expect(page.locator("#datasets-table")).to_contain_text(DATASET)
    shot(page, "datasets")
    page.click(f"#datasets-table >> text={DATASET}")
    expect(page.locator("#balance")).to_contain_text("setosa")
    expect(page.locator("#schema")).to_contain_text("petal width (cm)")
    shot(page, "dataset")
