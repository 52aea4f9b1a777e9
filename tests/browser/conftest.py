"""Browser tests: the console of a real `modelplane up` in Debian's Chromium, driven by Playwright.

Chromium is launched by its executable path (`apt-get install chromium`; `.ci/run` installs it), never
downloaded by `playwright install`. Without it the tests skip here, and fail in CI (CI=true). Every test
that opens a page saves a screenshot under artifacts/console/ (README: "The console").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module: Playwright's sync API holds an event loop in this thread while it runs, which other
    tests of the same worker (asyncio.run) must not find there."""
    path = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


DATASET, MODEL, DEPLOYMENT = "iris", "iris-mlp", "iris-mlp"
SEED = """
import sys
from modelplane.local import Local
local = Local(sys.argv[1])
local.datasets.add("iris", source="builtin:iris")
run = local.train(data="iris", model="mlp", train={"epochs": 3})
local.models.alias(str(run.model_version), "production")
local.deploy({"model": "iris-mlp@production"})
local.close()
"""


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding the iris dataset, `iris-mlp` (version 1, alias production) and its deployment, made
    once per worker in a process of its own (torch and the training heap stay out of the test worker;
    a training job through the server would take ~30 s to start torch)."""
    home = tmp_path_factory.mktemp("console-seed")
    subprocess.run([sys.executable, "-c", SEED, str(home)], check=True)
    return home


@pytest.fixture(scope="module")
def up(seeded_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """`modelplane up` on a copy of the seeded home (one directory is one platform), for one module."""
    home = tmp_path_factory.mktemp("console-home") / "home"
    shutil.copytree(seeded_home, home)
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
