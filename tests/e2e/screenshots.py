"""`make screenshots`: the main pages at phone (375×812) and desktop (1280×860) sizes, written
to docs/screenshots/ for the README. Runs the demo institution (qunguan.demo) on a throwaway
server, adds a debunked rumour, a red envelope and a warning with its statement, and opens
each page as the demo member 小陈 (the admin page as the branch secretary).

Run: ``make screenshots`` or ``python -m tests.e2e.screenshots docs/screenshots``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from qunguan.demo import CAST, DEMO_PASSWORD, seed_demo
from qunguan.enforcement import SubjectType, sanctions
from qunguan.enforcement.models import SanctionKind
from qunguan.envelopes import Split
from qunguan.envelopes import actions as envelope_actions
from qunguan.groups import Category, JoinPolicy
from qunguan.groups import actions as group_actions
from qunguan.groups import queries as group_queries
from qunguan.identity import queries as identity_queries
from qunguan.identity import vault
from qunguan.kernel.uow import UnitOfWork
from qunguan.messaging import actions as messaging_actions
from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, LiveServer, live_server

RUMOUR = "喝醋、在家里熏醋可以杀灭病毒，预防流感和新冠肺炎，大家赶紧熏起来"


def account(uow: UnitOfWork, key: str) -> Any:
    person = next(p for p in CAST if p.key == key)
    found = identity_queries.account_by_phone_index(uow, vault.phone_index(uow, person.phone))
    assert found is not None
    return found


def stage(server: LiveServer) -> dict[str, int]:
    def work(uow: UnitOfWork) -> dict[str, int]:
        seed_demo(uow)
        chen, secretary = account(uow, "member_chen"), account(uow, "secretary")
        groups = {g.name: g.id for g, _ in group_queries.my_groups(uow, secretary)}
        branch = groups["第三党支部"]
        plan = messaging_actions.check_send_message(uow, acting=secretary, group_id=branch,
                                                    text=RUMOUR)
        messaging_actions.do_send_message(uow, plan, acting=secretary)
        envelope_actions.do_topup(uow, acting=secretary, amount_fen=10_000,
                                  idempotency_key="screenshot-topup")
        send = envelope_actions.check_send_envelope(
            uow, acting=secretary, group_id=branch, total_fen=888, parts=3, split=Split.LUCKY,
            idempotency_key="screenshot-envelope")
        envelope = envelope_actions.do_send_envelope(uow, send, acting=secretary)
        envelope_actions.do_claim_envelope(uow, acting=account(uow, "accountant"),
                                           envelope_id=envelope.id)
        sanctions.do_impose_sanction(
            uow, acting=account(uow, "officer"), subject_type=SubjectType.ACCOUNT,
            subject_id=chen.id, kind=SanctionKind.WARNING,
            reason="在群内转发未经核实的停水消息，引起恐慌")
        # An invitation waiting for the member: a reading group the secretary founded.
        club = group_actions.do_create_group(
            uow, acting=secretary, name="读书会", category=Category.SOCIAL, tier=1,
            join_policy=JoinPolicy.INVITE_ONLY, rules_text="只谈读书，不发广告。",
            member_cap=None)
        group_actions.do_invite(uow, acting=secretary, group_id=club.id, account_id=chen.id)
        return {"branch": branch}
    return dict(server.run(work))


def log_in(page: Page, phone: str) -> None:
    page.goto("/login")
    page.get_by_label("手机号").fill(phone)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/groups")


def main(out: Path) -> None:
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is absent: apt-get install chromium fonts-wqy-microhei")
    out.mkdir(parents=True, exist_ok=True)
    phones = {p.key: p.phone for p in CAST}
    with tempfile.TemporaryDirectory(prefix="qunguan-shots-") as tmp, \
            live_server(Path(tmp)) as server, sync_playwright() as p:
        ids = stage(server)
        branch = ids["branch"]
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        shots = [
            ("login", None, "/login"),
            ("register", None, "/register"),
            ("groups", "member_chen", "/groups"),
            ("chat", "member_chen", f"/groups/{branch}"),
            ("group-info", "member_chen", f"/groups/{branch}/info"),
            ("envelopes", "member_chen", f"/groups/{branch}/envelopes"),
            ("sanctions", "member_chen", "/me/sanctions"),
            ("verify", "newcomer", "/verify"),
            ("admin", "secretary", f"/groups/{branch}/admin"),
            ("new-group", "member_chen", "/groups/new"),
            ("invitations", "member_chen", "/me/invitations"),
        ]
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            for name, who, path in shots:
                context = browser.new_context(base_url=server.url, viewport=viewport,
                                              locale="zh-CN", device_scale_factor=1)
                page = context.new_page()
                if who:
                    log_in(page, phones[who])
                page.goto(path)
                page.wait_for_load_state("networkidle")
                target = out / f"{name}-{size}.png"
                page.screenshot(path=str(target), full_page=False)
                print(target)
                context.close()
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
