"""Accessibility in a real browser, page by page at 375 px: text contrast meets WCAG AA,
every control has a label, nothing overflows sideways; and logging in works by keyboard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from qunguan import screening
from qunguan.demo import CAST, DEMO_PASSWORD, seed_demo
from qunguan.groups import queries as group_queries
from qunguan.identity import queries as identity_queries
from qunguan.kernel.uow import UnitOfWork
from qunguan.messaging import queries as messaging_queries
from qunguan.rumors import clusters as rumor_clusters
from qunguan.rumors import queries as rumor_queries
from tests.e2e.conftest import Browsers
from tests.e2e.screenshots import account, log_in
from tests.e2e.screenshots_officer import _hold_trigger as hold_trigger
from tests.e2e.screenshots_officer import log_in as log_in_person
from tests.e2e.screenshots_officer import seed as seed_console
from tests.e2e.server import DESKTOP, LiveServer
from tests.web.test_routes import ACCESS

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
    response = page.goto(path)
    assert response is not None, path
    assert response.ok, f"{path}: {response.status}"
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


# Page routes a browser does not open as a page, and why.
NOT_PAGES = {
    "GET /groups/{group_id}/messages/{message_id}": "a fragment the chat page fetches",
}


def test_every_page_in_access_meets_contrast_labels_and_fits_a_phone(
        server: LiveServer, browsers: Browsers, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every GET page of tests/web/test_routes.py's ACCESS, as the person it is for (a
    visitor, a member, the group's founder, an officer), over a server seeded with what each
    page shows (the officer screenshots' seed: cases, an appeal, clusters, debunks, an
    election with an alert, a hold, an unmasking request)."""
    monkeypatch.setattr(screening, "gate", screening.gate)  # restored after the test
    hold_trigger()  # the seed's held messages
    ids = seed_console(server)

    def found(uow: UnitOfWork) -> dict[str, Any]:
        officer = identity_queries.get_account(uow, server.cast["officer"].id)
        founder = identity_queries.get_account(uow, server.cast["founder"].id)
        group = group_queries.my_groups(uow, founder)[0][0]
        rows, _ = messaging_queries.history(uow, viewer=founder, group_id=group.id,
                                            before=None, limit=50)
        other = next(m for m in rows if m.sender_id == server.cast["member2"].id)
        clusters = rumor_clusters.list_clusters(uow, viewer=officer)
        debunks, _ = rumor_queries.list_debunks(uow, viewer=officer)
        return {"group_id": group.id, "code": group.code, "message_id": other.id,
                "cluster_id": clusters[0].cluster.id, "debunk_id": debunks[0].id}
    known = dict(server.run(found))
    known.update({"item_id": ids["item"], "appeal_id": ids["appeal"],
                  "request_id": ids["unmasking"]})
    pages: dict[str, list[str]] = {"public": [], "member": [], "admin": [], "officer": []}
    for key, who in ACCESS.items():
        method, path = key.split(" ", 1)
        if method != "GET" or key in NOT_PAGES:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: str(known[m.group(1)]), path)
        if path == "/join":
            url += f"?code={known['code']}"
        if who == "member" and ("/admin" in path or path.endswith("/delete")):
            who = "admin"
        pages[who].append(url)
    visitor = browsers.page()
    for url in pages["public"]:
        audit(visitor, url)
    opened = {}
    for who, person in (("member", "member"), ("admin", "founder"), ("officer", "officer")):
        page = opened[who] = browsers.page()
        log_in_person(page, server.cast[person])
        for url in pages[who]:
            audit(page, url)
    assert all(pages.values()), pages
    # The new forms with every field wrong: founding a group, inviting, handing over.
    page = opened["member"]
    page.goto("/groups/new")
    page.get_by_role("button", name="创建", exact=True).click()
    expect(page.locator("#f-name-error")).to_be_visible()
    found = page.evaluate(AUDIT)
    assert (found["low"], found["unlabelled"]) == ([], [])
    page = opened["admin"]
    for button, error in (("邀请", "#f-account_id-error"), ("转让", "#f-confirm-error")):
        page.goto(f"/groups/{known['group_id']}/admin")
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.locator(error)).to_be_visible()
        found = page.evaluate(AUDIT)
        assert (found["low"], found["unlabelled"]) == ([], []), button
