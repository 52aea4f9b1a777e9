"""The Overview and Deployments pages in a real browser: a deployed iris model, predictions sent to its
V2 endpoint, and the deployment page's live figures and charts following them."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DEPLOYMENT, shot
from tests.e2e.test_platform import Up

ROWS = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]


@pytest.fixture(scope="module")
def deployed(up: Up) -> str:
    """The seeded iris-mlp deployment (tests/browser/conftest.py), once it answers."""
    deadline = time.monotonic() + 15
    while httpx.get(f"{up.url}/v2/models/{DEPLOYMENT}/ready", headers=_headers(up)).status_code != 200:
        assert time.monotonic() < deadline, "the deployment never became ready"
        time.sleep(0.1)
    return DEPLOYMENT


def _headers(up: Up) -> dict[str, str]:
    return {"x-api-key": up.admin_key}


@pytest.fixture
def traffic(up: Up, deployed: str) -> Iterator[list[int]]:
    """Predictions sent to the deployment until the test ends; yields the statuses seen."""
    statuses: list[int] = []
    stop = threading.Event()
    body = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": ROWS}]}

    def send() -> None:
        with httpx.Client(base_url=up.url, headers=_headers(up)) as http:
            while not stop.is_set():
                statuses.append(http.post(f"/v2/models/{deployed}/infer", json=body).status_code)
                stop.wait(0.02)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    yield statuses
    stop.set()
    sender.join(10)


def test_the_deployment_page_charts_live_traffic(page: Page, up: Up, traffic: list[int]) -> None:
    page.goto(f"{up.url}/ui/deployments/iris-mlp")
    expect(page.locator("h1")).to_contain_text("iris-mlp")
    expect(page.locator("#health")).to_have_text("ready")
    expect(page.locator("#live-rps")).to_have_text(re.compile(r"^(?!0\.0$)\d+\.\d$"), timeout=10_000)
    expect(page.locator("#live-p99")).to_have_text(re.compile(r"^\d+\.\d$"))
    expect(page.locator("#live-charts")).to_have_attribute("data-points", re.compile(r"^([3-9]|\d\d+)$"))
    assert page.locator("#chart-rps canvas").count() == 1
    assert traffic and set(traffic) == {200}
    shot(page, "deployment")


def test_the_list_and_overview_show_the_deployment(page: Page, up: Up, traffic: list[int]) -> None:
    page.goto(f"{up.url}/ui/deployments")
    row = page.locator('tr[data-deployment="iris-mlp"]')
    expect(row).to_contain_text("iris-mlp@production")
    expect(row.locator(".badge").first).to_have_text("ready")
    expect(row.locator('[data-live="rps"]')).to_have_text(re.compile(r"^(?!0\.0$)\d+\.\d$"), timeout=10_000)
    shot(page, "deployments")
    page.goto(f"{up.url}/ui/")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator('#overview-deployments tr[data-deployment="iris-mlp"]')).to_be_visible()
    # this page's own sign-in is the newest entry
    expect(page.locator("#overview-audit")).to_contain_text("console.signin")
    shot(page, "overview")
    page.click('#overview-deployments a:text("iris-mlp")')
    expect(page).to_have_url(f"{up.url}/ui/deployments/iris-mlp")


def test_an_unknown_deployment_is_a_404_page(page: Page, up: Up) -> None:
    page.goto(f"{up.url}/ui/deployments/nowhere")
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator(".error")).to_contain_text("does not exist")
