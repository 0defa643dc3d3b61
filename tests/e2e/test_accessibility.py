"""Accessibility in a real browser, page by page at 375 px: text contrast meets WCAG AA,
every control has a label, nothing overflows sideways; and logging in works by keyboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from qunguan.demo import CAST, DEMO_PASSWORD, seed_demo
from qunguan.groups import queries as group_queries
from qunguan.kernel.uow import UnitOfWork
from tests.e2e.conftest import Browsers
from tests.e2e.screenshots import account, log_in
from tests.e2e.server import DESKTOP, LiveServer

# Text below WCAG AA contrast (4.5:1, 3:1 for large text), controls without a label, width.
AUDIT = (Path(__file__).parent / "audit.js").read_text(encoding="utf-8")


@pytest.fixture
def demo(server: LiveServer) -> dict[str, Any]:
    def work(uow: UnitOfWork) -> dict[str, Any]:
        seed_demo(uow)
        secretary = account(uow, "secretary")
        branch = next(g.id for g, _ in group_queries.my_groups(uow, secretary)
                      if g.name == "第三党支部")
        return {"branch": branch}
    return dict(server.run(work))


def audit(page: Page, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    found = page.evaluate(AUDIT)
    assert found["low"] == [], f"{path}: contrast below WCAG AA: {found['low']}"
    assert found["unlabelled"] == [], f"{path}: controls without a label"
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert found["width"] <= width, f"{path}: {found['width']} px wide on a {width} px screen"


def test_pages_meet_contrast_labels_and_fit_a_phone(server: LiveServer, browsers: Browsers,
                                                    demo: dict[str, Any]) -> None:
    phones = {p.key: p.phone for p in CAST}
    branch = demo["branch"]
    page = browsers.page()
    for path in ("/login", "/register"):
        audit(page, path)
    log_in(page, phones["member_chen"])
    for path in ("/groups", f"/groups/{branch}", f"/groups/{branch}/info",
                 f"/groups/{branch}/envelopes", "/me/sanctions", "/me/reports", "/profile",
                 "/verify"):
        audit(page, path)
    admin = browsers.page(viewport=DESKTOP)
    log_in(admin, phones["secretary"])
    audit(admin, f"/groups/{branch}/admin")
    # An error state too: the register form with every field wrong.
    fresh = browsers.page()
    fresh.goto("/register")
    fresh.get_by_role("button", name="注册").click()
    expect(fresh.locator("#f-phone-error")).to_be_visible()
    assert fresh.evaluate(AUDIT)["low"] == []


def test_officer_governance_pages_meet_contrast_labels_and_fit_a_phone(
        server: LiveServer, browsers: Browsers, demo: dict[str, Any]) -> None:
    """The console's unmasking, legal hold, retention, election and alert pages, and their
    forms with every field wrong."""
    phones = {p.key: p.phone for p in CAST}
    page = browsers.page()
    log_in(page, phones["officer"])
    for path in ("/officer/unmaskings", "/officer/holds", "/officer/retention",
                 "/officer/elections", "/officer/alerts"):
        audit(page, path)
    for path, button in (("/officer/unmaskings", "提出申请"), ("/officer/holds", "设立保全"),
                         ("/officer/elections", "宣布")):
        page.goto(path)
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.locator(".field.invalid").first).to_be_visible()
        found = page.evaluate(AUDIT)
        assert (found["low"], found["unlabelled"]) == ([], []), path


def test_logging_in_with_the_keyboard_only(server: LiveServer, browsers: Browsers,
                                           demo: dict[str, Any]) -> None:
    page = browsers.page()
    page.goto("/login")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()  # the skip link comes first
    page.keyboard.press("Enter")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-phone":
            break
    expect(page.get_by_label("手机号")).to_be_focused()
    page.keyboard.type(next(p.phone for p in CAST if p.key == "member_chen"))
    page.keyboard.press("Tab")
    expect(page.get_by_label("密码")).to_be_focused()
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="我的群")).to_be_visible()
    expect(page.locator(".group-link").first).to_be_visible()
