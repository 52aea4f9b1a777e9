"""Jobs, keys, usage and audit pages in a real browser against `modelplane up`."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from modelplane.client import Client
from tests.browser.conftest import DATASET, DEPLOYMENT, shot, sign_in
from tests.e2e.test_platform import ROWS, Up


@pytest.fixture(scope="module")
def admin(up: Up) -> Iterator[Client]:
    client = Client(up.url, up.admin_key)
    yield client
    client.close()


def test_a_running_jobs_progress_moves_then_it_is_cancelled(page: Page, up: Up, admin: Client) -> None:
    job = admin.jobs.train(data=DATASET, model="mlp", train={"epochs": 400, "batch_size": 8})
    page.goto(f"{up.url}/ui/jobs")
    expect(page.locator(f'tr[data-job="{job.id}"]')).to_be_visible()
    expect(page.locator(f'tr[data-job="{job.id}"] [data-role="progress"]')).to_contain_text(
        re.compile(r"[1-9]\d*/400"), timeout=30_000
    )
    shot(page, "jobs")
    page.goto(f"{up.url}/ui/jobs/{job.id}")
    progress = page.locator("#job-progress")
    first = progress.inner_text()
    expect(progress).not_to_have_text(first, timeout=30_000)  # the page polled: no reload
    expect(page.locator("#log")).to_contain_text("epoch")
    shot(page, "job")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel")
    expect(page.locator(".flash")).to_contain_text(f"Job {job.id}")
    expect(page.locator("#job-state")).to_have_text("cancelled", timeout=30_000)


def test_keys_create_shows_the_key_once_and_csrf_is_required(page: Page, up: Up, admin: Client) -> None:
    page.goto(f"{up.url}/ui/keys")
    shot(page, "keys")
    page.fill("#key-name", "browser-app")
    page.select_option("#key-role", "developer")
    page.fill("#key-rate", "20/s")
    page.click("#create")
    expect(page.locator("h1")).to_have_text("Key created: browser-app")
    raw = page.locator("#new-key").input_value()
    assert raw.startswith("mp_") and raw not in page.url
    shot(page, "key-created")
    page.click("#done")
    expect(page.locator("#keys")).to_contain_text("browser-app")
    assert raw not in page.content()
    before = len(admin.keys.list())
    forged = page.request.post(f"{up.url}/ui/keys", form={"name": "forged", "role": "admin"})
    assert forged.status == 403 and "CSRF token" in forged.text()
    assert len(admin.keys.list()) == before


def test_a_consumer_cannot_open_the_keys_page(browser: Browser, up: Up, admin: Client) -> None:
    consumer = admin.keys.create(role="consumer", name="browser-consumer", deployments=["iris"])
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, up.url, consumer.key)
    page.goto(f"{up.url}/ui/keys")
    expect(page.locator(".error")).to_contain_text("that needs a key with role admin")
    page.goto(f"{up.url}/ui/usage")
    expect(page.locator("#own-only")).to_contain_text(consumer.info.id)
    context.close()


def test_usage_shows_predictions_and_downloads_as_csv(page: Page, up: Up, admin: Client) -> None:
    deployment = DEPLOYMENT
    admin.predict(deployment, ROWS)
    admin.predict(deployment, ROWS)
    deadline = time.monotonic() + 15
    while not admin.usage.report():  # the server's meter writes usage once a second
        assert time.monotonic() < deadline, "usage never showed the predictions"
        time.sleep(0.2)
    page.goto(f"{up.url}/ui/usage")
    expect(page.locator("#usage")).to_contain_text(deployment)
    expect(page.locator("#usage-chart canvas")).to_be_visible()
    shot(page, "usage")
    with page.expect_download() as started:
        page.click("#usage-csv")
    download = started.value
    assert download.suggested_filename.startswith("usage-") and download.suggested_filename.endswith(".csv")
    rows = Path(download.path()).read_text().splitlines()
    assert rows[0] == "day,key_id,deployment,requests,errors,rejected,samples,compute_ms"
    assert any(f",{deployment}," in row for row in rows[1:])


def test_audit_verify_says_ok(page: Page, up: Up) -> None:
    page.goto(f"{up.url}/ui/audit")
    expect(page.locator("#audit")).to_contain_text("key.created")
    page.click("#verify")
    expect(page.locator("#verification")).to_contain_text("OK: chain intact")
    shot(page, "audit")
