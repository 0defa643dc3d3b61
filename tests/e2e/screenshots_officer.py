"""Screenshots of the officer console at phone and desktop sizes (part of `make screenshots`).

    python -m tests.e2e.screenshots_officer docs/screenshots

Starts a server over a fresh database, fills it through the actions (a held message, a
decided case with a sanction and its appeal, debunks, a rumour forwarded across three groups,
red envelopes, an election with a candidate's envelope and its vote-buying alert, a legal hold,
an unmasking request, a signed audit checkpoint), logs an officer in with Chromium and saves
``officer-<page>-<phone|desktop>.png``. Needs /usr/bin/chromium.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from qunguan import screening
from qunguan.auditlog import actions as audit_actions
from qunguan.enforcement import Decision, SanctionKind, appeals, review
from qunguan.enforcement import queries as enforcement_queries
from qunguan.envelopes import actions as envelope_actions
from qunguan.governance import HoldScope
from qunguan.governance import actions as governance_actions
from qunguan.groups import actions as group_actions
from qunguan.groups.models import ElectionScope
from qunguan.identity import actions as identity_actions
from qunguan.identity import queries as identity_queries
from qunguan.identity.models import AccountKind
from qunguan.kernel.uow import UnitOfWork
from qunguan.messaging import actions as messaging_actions
from qunguan.rumors import actions as rumor_actions
from qunguan.screening import Reason, ScreeningContext, Verdict, VerdictKind
from tests.e2e.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    LiveServer,
    live_server,
    log_in,
    make_group,
    seed_people,
)

HOLD = "待审"
RUMOUR = "紧急通知：明天全市停水三天，请大家赶紧囤水！"


def _hold_trigger() -> None:
    real_gate = screening.gate

    def gate(uow: UnitOfWork, context: ScreeningContext) -> Verdict:
        if HOLD in context.text:
            return Verdict(VerdictKind.HOLD, (Reason(
                rule="demo.hold", detector="demo", text_zh="待人工审核",
                text_en="Held for review", data={"severity": 3}),))
        return real_gate(uow, context)

    screening.gate = gate  # type: ignore[assignment]


def _account(uow: UnitOfWork, server: LiveServer, key: str) -> Any:
    return identity_queries.get_account(uow, server.cast[key].id)


def _post(server: LiveServer, key: str, group_id: int, text: str) -> int:
    def work(uow: UnitOfWork) -> int:
        me = _account(uow, server, key)
        plan = messaging_actions.check_send_message(uow, acting=me, group_id=group_id,
                                                    text=text, confirmed=True)
        return messaging_actions.do_send_message(uow, plan, acting=me).id
    return int(server.run(work))


def _open_items(server: LiveServer, count: int) -> list[Any]:
    def work(uow: UnitOfWork) -> list[Any]:
        officer = _account(uow, server, "officer")
        return review.list_items(uow, viewer=officer)
    deadline = time.monotonic() + 20
    while len(found := server.run(work)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the outbox did not queue the held messages")
        time.sleep(0.2)
    return found


def seed(server: LiveServer) -> dict[str, int]:
    seed_people(server, ("officer", "outsider", "founder", "admin", "member", "member2"))
    server.run(lambda uow: identity_actions.do_set_kind(
        uow, acting=identity_queries.system_account(uow),
        account_id=server.cast["outsider"].id, kind=AccountKind.OFFICER))
    everyone = ("admin", "member", "member2")
    groups = [make_group(server, "founder", everyone, name=name)
              for name in ("第一工作群", "教研室通知群", "后勤服务群")]
    _post(server, "member2", groups[0], "周五下午三点在三楼会议室开会。")
    _post(server, "member", groups[0], f"{HOLD}：听说下周食堂要关门了")
    _post(server, "admin", groups[0], "请大家按时参加。")
    _post(server, "member", groups[0], f"{HOLD}：某某领导要调走了，大家转一下")
    first, second = sorted(_open_items(server, 2), key=lambda i: i.id)

    server.run(lambda uow: review.do_claim(uow, acting=_account(uow, server, "officer"),
                                           item_id=second.id))

    def decide(uow: UnitOfWork) -> int:
        officer = _account(uow, server, "officer")
        review.do_decide(uow, acting=officer, item_id=second.id, decision=Decision.SANCTION,
                         reason="散布未经证实的人事消息",
                         sanction=review.SanctionOrder(kind=SanctionKind.MUTE,
                                                       duration_seconds=86400))
        member = _account(uow, server, "member")
        statement = next(s for s in enforcement_queries.my_statements(uow, viewer=member)
                         if s["sanction_id"] is not None)
        return appeals.do_file_appeal(uow, acting=member, statement_id=statement["id"],
                                      text="我只是转述群里的说法，已经撤回。").id
    appeal_id = int(server.run(decide))

    origin = _post(server, "member2", groups[0], RUMOUR)
    time.sleep(0.5)

    def spread(uow: UnitOfWork) -> None:
        admin = _account(uow, server, "admin")
        plan = messaging_actions.check_forward(uow, acting=admin, message_id=origin,
                                               group_ids=[groups[1]], confirmed=True)
        messaging_actions.do_forward(uow, plan, acting=admin)
    server.run(spread)
    time.sleep(0.5)
    _post(server, "founder", groups[2], RUMOUR)

    def bank(uow: UnitOfWork) -> int:
        system = identity_queries.system_account(uow)
        group_actions.do_declare_election(
            uow, acting=_account(uow, server, "officer"), name="第三届职工代表选举",
            scope=ElectionScope.GROUP, group_id=groups[0],
            starts_at=uow.now() - timedelta(days=3), ends_at=uow.now() + timedelta(days=4),
            candidate_ids=[server.cast["member2"].id])
        for claim, verdict, refutation in [
                ("明天全市停水三天", "false", "自来水公司未发布任何停水通知。"),
                ("喝盐水可以预防流感", "false", "盐水不能预防流感，接种疫苗才有效。"),
                ("食堂下周关门", "unverified", "后勤处尚未发布相关通知。")]:
            rumor_actions.do_add_debunk(uow, acting=system, fields={
                "claim": claim, "verdict": verdict, "refutation": refutation,
                "publisher": "学校宣传部"})
        founder = _account(uow, server, "founder")
        envelope_actions.do_topup(uow, acting=founder, amount_fen=50_000,
                                  idempotency_key="demo-topup")
        for i, group_id in enumerate(groups):
            plan = envelope_actions.check_send_envelope(
                uow, acting=founder, group_id=group_id, total_fen=(i + 1) * 1_000, parts=3,
                split=envelope_actions.Split.LUCKY, idempotency_key=f"demo-envelope-{i}")
            envelope_actions.do_send_envelope(uow, plan, acting=founder)
        # The election's candidate sends one: a vote-buying alert (and a held envelope).
        candidate = _account(uow, server, "member2")
        envelope_actions.do_topup(uow, acting=candidate, amount_fen=20_000,
                                  idempotency_key="demo-topup-candidate")
        plan = envelope_actions.check_send_envelope(
            uow, acting=candidate, group_id=groups[0], total_fen=8_800, parts=4,
            split=envelope_actions.Split.LUCKY, idempotency_key="demo-envelope-candidate")
        envelope_actions.do_send_envelope(uow, plan, acting=candidate)
        officer = _account(uow, server, "officer")
        governance_actions.do_place_hold(uow, acting=officer, scope=HoldScope.GROUP,
                                         scope_id=groups[0], reason="纪检调查 2026-17 号")
        return governance_actions.do_request_unmasking(
            uow, acting=officer, case_id=first.id, reason="核实散布人事传言的账号",
            account_id=server.cast["member"].id).id
    unmasking_id = int(server.run(bank))
    time.sleep(1.0)  # the outbox assigns clusters, records hits and runs the detectors

    def log(uow: UnitOfWork) -> None:
        system = identity_queries.system_account(uow)
        audit_actions.do_append(uow, acting=system)
        audit_actions.do_sign_checkpoint(uow, acting=system, force=True)
        audit_actions.do_self_check(uow, acting=system)
    server.run(log)
    return {"item": first.id, "case": second.id, "appeal": appeal_id,
            "unmasking": unmasking_id, "group": groups[0]}


def shoot(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    _hold_trigger()
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp, live_server(Path(tmp)) as server:
        ids = seed(server)
        pages = {"dashboard": "/officer", "queue": "/officer/review",
                 "case": f"/officer/review/{ids['item']}",
                 "decided-case": f"/officer/review/{ids['case']}",
                 "sanctions": "/officer/sanctions", "debunks": "/officer/debunks",
                 "clusters": "/officer/clusters", "policy": "/officer/policy",
                 "elections": "/officer/elections", "alerts": "/officer/alerts",
                 "unmaskings": "/officer/unmaskings",
                 "unmasking": f"/officer/unmaskings/{ids['unmasking']}",
                 "holds": "/officer/holds", "retention": "/officer/retention",
                 "audit": "/officer/audit", "groups": "/officer/groups",
                 "group": f"/officer/groups/{ids['group']}"}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                context = browser.new_context(base_url=server.url, viewport=viewport,
                                              locale="zh-CN")
                page = context.new_page()
                log_in(page, server.cast["officer"])
                page.goto("/officer/clusters")
                link = page.locator("table.data a").first
                targets = dict(pages)
                if link.count():
                    targets["cascade"] = str(link.get_attribute("href"))
                for name, path in targets.items():
                    page.goto(path)
                    page.wait_for_load_state("load")
                    if page.locator("[data-chart]").count():
                        page.wait_for_timeout(500)  # ECharts draws after load
                    target = out / f"officer-{name}-{size}.png"
                    page.screenshot(path=str(target), full_page=True)
                    written.append(target)
                # The appeal as the second officer sees it (four-eyes: not the first one).
                second = browser.new_context(base_url=server.url, viewport=viewport,
                                             locale="zh-CN").new_page()
                log_in(second, server.cast["outsider"])
                second.goto(f"/officer/appeals/{ids['appeal']}")
                target = out / f"officer-appeal-{size}.png"
                second.screenshot(path=str(target), full_page=True)
                written.append(target)
                context.close()
            browser.close()
    return written


if __name__ == "__main__":
    for path in shoot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")):
        print(path)
