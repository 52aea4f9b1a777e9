"""Signing in and out in a real browser; the 404 page."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import shot
from tests.e2e.test_platform import Up


def test_sign_in_page_then_overview_then_sign_out(browser: Browser, up: Up) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(up.url + "/")
    expect(page).to_have_url(f"{up.url}/ui/signin?next=/ui/&reason=signin")
    shot(page, "signin")
    page.fill("#key", up.admin_key)
    page.click("#signin")
    expect(page.locator("h1")).to_have_text("Overview")
    cookies = context.cookies()
    assert all(up.admin_key not in c["value"] for c in cookies)
    assert next(c for c in cookies if c["name"] == "modelplane_console")["httpOnly"]
    page.click("#signout")
    expect(page.locator(".flash")).to_have_text("Signed out")
    context.close()


def test_a_wrong_key_says_why(browser: Browser, up: Up) -> None:
    page = browser.new_page()
    page.goto(up.url + "/ui/signin")
    page.fill("#key", "not-a-key")
    page.click("#signin")
    expect(page.locator(".error")).to_contain_text("malformed API key")
    page.close()


def test_an_unknown_page_offers_a_way_back(page: Page, up: Up) -> None:
    page.goto(up.url + "/ui/nowhere")
    expect(page.locator("h1")).to_have_text("Not found")
    shot(page, "not-found")
    page.click("#way-back")
    expect(page.locator("h1")).to_have_text("Overview")
