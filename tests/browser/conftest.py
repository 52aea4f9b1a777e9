"""Browser tests: the console of a real `modelplane up` in Debian's Chromium, driven by Playwright.

Chromium is launched by its executable path (`apt-get install chromium`; `.ci/run` installs it), never
downloaded by `playwright install`. Without it the tests skip here, and fail in CI (CI=true). Every test
that opens a page saves a screenshot under artifacts/console/ (README: "The console").
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.test_platform import Up

SHOTS = Path(os.environ.get("MODELPLANE_SCREENSHOTS", Path(__file__).parents[2] / "artifacts" / "console"))


def chromium() -> str:
    found = (
        os.environ.get("MODELPLANE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium for the browser tests: apt-get install chromium")
        pytest.skip("no chromium on this machine: apt-get install chromium")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    path = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


DATASET, MODEL, DEPLOYMENT = "iris", "iris-mlp", "iris-mlp"


@pytest.fixture(scope="session")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One `modelplane up` for every browser test of a worker, on a home that already holds the iris
    dataset, the `iris-mlp` model (version 1, alias production) and its deployment: trained in this
    process before the server starts (a training job's own process would take ~30 s to start torch)."""
    from modelplane.local import Local

    home = tmp_path_factory.mktemp("console-home")
    local = Local(home)
    try:
        local.datasets.add(DATASET, source="builtin:iris")
        run = local.train(data=DATASET, model="mlp", train={"epochs": 3})
        local.models.alias(str(run.model_version), "production")
        local.deploy({"model": f"{MODEL}@production"})
    finally:
        local.close()
    server = Up(home)
    yield server
    server.stop()


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/ui/signin")
    page.fill("#key", key)
    page.click("#signin")
    expect(page.locator("#signout")).to_be_visible()


@pytest.fixture
def page(browser: Browser, up: Up) -> Iterator[Page]:
    """A fresh browser context signed in as the admin."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    opened = context.new_page()
    sign_in(opened, up.url, up.admin_key)
    yield opened
    context.close()


def shot(page: Page, name: str) -> Path:
    """Save the whole page as artifacts/console/<name>.png for a reviewer to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
