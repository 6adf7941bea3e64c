"""Keyboard use with visible focus, landmarks, and a narrow laptop window without sideways scrolling."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from ui_support import UiServer, check_page

PAGES = ["/models", "/deploy", "/deployments", "/providers", "/settings"]


def test_the_keyboard_reaches_everything_with_visible_focus(page: Page, ui: UiServer) -> None:
    page.goto(ui.url("/models"))
    expect(page.get_by_role("heading", name="Models", level=1)).to_be_visible()
    for landmark in ("banner", "main"):
        expect(page.get_by_role(landmark)).to_have_count(1)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") != "none", "focus must be visible"

    # Through the navigation by keyboard alone: the link for Deployments, then Enter.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Deployments":
            break
    focused = page.get_by_role("link", name="Deployments", exact=True)
    expect(focused).to_be_focused()
    assert focused.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/deployments$"))
    expect(page.get_by_role("heading", name="Deployments", level=1)).to_be_visible()
    # Focus moved to the new page's content, where a screen reader starts reading.
    expect(page.get_by_role("main")).to_be_focused()
    expect(focused).to_have_attribute("aria-current", "page")


@pytest.mark.parametrize("path", PAGES)
def test_a_narrow_laptop_window_needs_no_sideways_scrolling(page: Page, ui: UiServer, path: str) -> None:
    page.set_viewport_size({"width": 900, "height": 700})
    page.goto(ui.url(path))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.wait_for_timeout(300)  # let the data arrive and lay out
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} is {overflow}px wider than a 900px window"
    check_page(page, f"narrow{path.replace('/', '-')}")


def test_an_unknown_page_says_so(page: Page, ui: UiServer) -> None:
    page.goto(ui.url("/no/such/page"))
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="models").click()
    expect(page).to_have_url(re.compile(r"/models$"))
