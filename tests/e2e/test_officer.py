"""Officers in a real browser: the review queue worked end to end, an appeal decided by a
second officer (four-eyes), and a dual-control unmasking read once."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from qunguan import screening
from qunguan.enforcement import ItemSource, SubjectType, review
from qunguan.enforcement import queries as enforcement_queries
from qunguan.identity import actions as identity_actions
from qunguan.identity import queries as identity_queries
from qunguan.identity.models import AccountKind
from qunguan.kernel.uow import UnitOfWork
from qunguan.screening import Reason, ScreeningContext, Verdict, VerdictKind
from tests.e2e.conftest import Browsers
from tests.e2e.server import DESKTOP, LiveServer, log_in, make_group, seed_people

TRIGGER = "待审"


@pytest.fixture
def holding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-send gate holds every text with the trigger (the server runs in this process),
    whatever the active pack says: the queue, not the pack, is under test."""
    real_gate = screening.gate

    def gate(uow: UnitOfWork, context: ScreeningContext) -> Verdict:
        if TRIGGER in context.text:
            return Verdict(VerdictKind.HOLD, (Reason(
                rule="e2e.hold", detector="test", text_zh="待人工审核",
                text_en="Held for review", data={"severity": 3}),))
        return real_gate(uow, context)

    monkeypatch.setattr(screening, "gate", gate)


def make_officer(server: LiveServer, key: str) -> None:
    person = server.cast[key]
    server.run(lambda uow: identity_actions.do_set_kind(
        uow, acting=identity_queries.system_account(uow), account_id=person.id,
        kind=AccountKind.OFFICER))


def wait_for_item(page: Page, text: str) -> None:
    """The outbox worker queues the held message within a moment; reload until it shows."""
    deadline = time.monotonic() + 15
    while True:
        page.goto("/officer/review")
        if page.get_by_role("link", name="条目").count() or text in page.content():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the held message never reached the review queue")
        time.sleep(0.3)


def post_held(page: Page, group_id: int, text: str) -> None:
    page.goto(f"/groups/{group_id}")
    page.get_by_label("消息").fill(text)
    page.get_by_role("button", name="发送", exact=True).click()
    expect(page.locator(".msg .text").last).to_have_text(text)
    expect(page.locator(".msg").last).to_contain_text("审核完成前只有你能看到")


def test_officer_works_the_review_queue(server: LiveServer, browsers: Browsers,
                                        holding: Any) -> None:
    seed_people(server, ("officer", "founder", "member", "member2"))
    group_id = make_group(server, "founder", ("member", "member2"))
    text = f"{TRIGGER}：明天上午九点全楼停水"

    author = browsers.page()
    log_in(author, server.cast["member"])
    post_held(author, group_id, text)

    reader = browsers.page()
    log_in(reader, server.cast["member2"])
    reader.goto(f"/groups/{group_id}")
    expect(reader.get_by_text(text)).to_have_count(0)  # held: only its author sees it

    officer = browsers.page(viewport=DESKTOP)
    log_in(officer, server.cast["officer"])
    wait_for_item(officer, text)
    expect(officer.get_by_role("heading", name="审核队列")).to_be_visible()
    officer.get_by_role("row").filter(has_text="发送前暂扣").get_by_role("link").first.click()
    expect(officer.get_by_role("heading", name="消息及其上下文")).to_be_visible()
    expect(officer.locator(".ctx-message.subject")).to_contain_text(text)

    officer.get_by_role("button", name="认领").click()
    expect(officer.get_by_text("已由你认领")).to_be_visible()
    # Deciding without a reason: the error sits next to the field, nothing is decided.
    officer.get_by_label("不予处理（放行暂扣的消息）").check()
    officer.get_by_role("button", name="作出决定").click()
    expect(officer.locator("#f-reason-error")).to_contain_text("请填写理由")
    expect(officer.get_by_label("不予处理（放行暂扣的消息）")).to_be_checked()
    # The keyboard alone can finish the decision.
    officer.get_by_label("理由", exact=True).focus()
    officer.keyboard.type("停水通知属实，放行")
    officer.get_by_role("button", name="作出决定").focus()
    officer.keyboard.press("Enter")
    expect(officer.get_by_role("status")).to_contain_text("已处理")
    expect(officer.locator("dl.facts")).to_contain_text("不予处理")

    # The member sees the outcome: the message is delivered to the group.
    reader.goto(f"/groups/{group_id}")
    expect(reader.locator(".msg .text").last).to_have_text(text)
    author.goto(f"/groups/{group_id}")
    expect(author.locator(".msg").last).not_to_contain_text("审核完成前只有你能看到")


def _api_token(server: LiveServer, key: str) -> str:
    person = server.cast[key]
    r = httpx.post(f"{server.url}/api/sessions",
                   json={"phone": person.phone, "password": person.password})
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_member_appeals_and_another_officer_decides(server: LiveServer, browsers: Browsers,
                                                    holding: Any) -> None:
    seed_people(server, ("officer", "outsider", "founder", "member"))
    make_officer(server, "outsider")
    group_id = make_group(server, "founder", ("member",))
    text = f"{TRIGGER}：据说食堂下周关门"

    member = browsers.page()
    log_in(member, server.cast["member"])
    post_held(member, group_id, text)

    first = browsers.page(viewport=DESKTOP)
    log_in(first, server.cast["officer"])
    wait_for_item(first, text)
    first.get_by_role("row").filter(has_text="发送前暂扣").get_by_role("link").first.click()
    first.get_by_role("button", name="认领").click()
    first.get_by_label("删除并处罚").check()
    first.get_by_label("理由", exact=True).fill("散布未经证实的消息")
    first.get_by_label("处罚", exact=True).select_option("mute")
    first.get_by_label("期限（小时）").fill("24")
    first.get_by_role("button", name="作出决定").click()
    expect(first.get_by_role("status")).to_contain_text("已处理")
    expect(first.get_by_text("生效中").first).to_be_visible()

    # The member appeals the sanction's statement of reasons (through the API: the member's
    # own sanctions page belongs to the member pages).
    token = _api_token(server, "member")
    headers = {"Authorization": f"Bearer {token}"}
    statements = httpx.get(f"{server.url}/api/me/statements", headers=headers).json()
    mute = next(s for s in statements if s["sanction_id"] is not None)
    r = httpx.post(f"{server.url}/api/me/statements/{mute['id']}/appeal", headers=headers,
                   json={"text": "食堂确实贴出了通知，我只是转告。"})
    assert r.status_code == 201, r.text
    appeal_id = r.json()["id"]

    # The officer who decided cannot decide the appeal: the page says why, with no form.
    first.goto("/officer/appeals")
    first.get_by_role("link", name=f"申诉 {appeal_id}").click()
    expect(first.get_by_text("食堂确实贴出了通知，我只是转告。")).to_be_visible()
    expect(first.get_by_text("四眼原则：原决定由你作出")).to_be_visible()
    expect(first.get_by_role("button", name="作出决定")).to_have_count(0)

    second = browsers.page(viewport=DESKTOP)
    log_in(second, server.cast["outsider"])
    second.goto("/officer/appeals")
    second.get_by_role("link", name=f"申诉 {appeal_id}").click()
    second.get_by_label("撤销原决定（解除处罚、恢复消息）").check()
    second.get_by_label("理由", exact=True).fill("核实通知属实，撤销处罚")
    second.get_by_role("button", name="作出决定").click()
    expect(second.get_by_role("status")).to_contain_text("已处理")
    expect(second.locator("dl.facts")).to_contain_text("已撤销")

    def sanction_active(uow: UnitOfWork) -> bool:
        account = identity_queries.get_account(uow, server.cast["member"].id)
        return any(s["active"] for s in enforcement_queries.my_sanctions(uow, viewer=account))

    assert server.run(sanction_active) is False


def test_dual_control_unmasking(server: LiveServer, browsers: Browsers) -> None:
    """Officer A asks to unmask a member for a case; A cannot approve it; officer B approves;
    A reads the identity once (a page not kept by the browser); a second read is refused."""
    seed_people(server, ("officer", "outsider", "founder", "member"))
    make_officer(server, "outsider")
    member = server.cast["member"]

    def a_case(uow: UnitOfWork) -> int:
        item, _new = review.open_item(
            uow, acting=identity_queries.system_account(uow), source=ItemSource.REPORT,
            subject_type=SubjectType.ACCOUNT, subject_id=member.id, group_id=None,
            severity=2, rules=[{"rule": "report", "reason": "fraud"}], automated=False)
        return item.id
    case_id = int(server.run(a_case))

    first = browsers.page(viewport=DESKTOP)
    log_in(first, server.cast["officer"])
    first.goto("/officer/unmaskings")
    first.get_by_role("link", name="揭示身份").first.click()
    expect(first.get_by_role("heading", name="揭示身份申请", exact=True)).to_be_visible()
    # Without a reason: the error sits next to the field, the rest kept.
    first.get_by_label("案件编号").fill(str(case_id))
    first.get_by_label("账号编号").fill(str(member.id))
    first.get_by_role("button", name="提出申请").click()
    expect(first.locator("#f-reason-error")).to_have_text("请说明为何需要查看身份。")
    expect(first.get_by_label("案件编号")).to_have_value(str(case_id))
    first.get_by_label("理由", exact=True).fill("纪检调查 2026-17 号：核实举报人所述账号")
    first.get_by_role("button", name="提出申请").click()
    expect(first.get_by_role("status").first).to_contain_text("须经另一名官员批准")
    expect(first.get_by_text("双重控制：申请由你提出")).to_be_visible()
    expect(first.get_by_role("button", name="批准申请")).to_have_count(0)
    request_url = first.url.split("?")[0]
    request_id = request_url.rsplit("/", 1)[1]

    second = browsers.page(viewport=DESKTOP)
    log_in(second, server.cast["outsider"])
    second.goto("/officer/unmaskings")
    second.get_by_role("link", name=f"申请 {request_id}").click()
    second.get_by_label("备注（可选）").fill("同意，限本案使用")
    second.get_by_role("button", name="批准申请").click()
    expect(second.get_by_role("status")).to_contain_text("已作出决定")
    expect(second.get_by_role("button", name="查看一次")).to_have_count(0)  # only A reads

    first.goto(request_url)
    stale = browsers.page(viewport=DESKTOP)  # the same request open in a second tab
    log_in(stale, server.cast["officer"])
    stale.goto(request_url)
    with first.expect_response(lambda r: r.url.endswith("/reveal")) as answer:
        first.get_by_role("button", name="查看一次").click()
    assert answer.value.status == 200
    assert answer.value.headers["cache-control"].startswith("no-store")
    expect(first.locator("#legal-name")).to_have_text(str(member.legal_name))
    expect(first.locator("#id-number")).to_have_text(str(member.id_number))
    assert first.url.endswith("/reveal")  # answered in place: no URL to open it again

    stale.get_by_role("button", name="查看一次").click()
    expect(stale.locator("#form-errors")).to_have_text("身份已显示过一次。如需再次查看，须重新申请。")
    expect(stale.locator("#legal-name")).to_have_count(0)
    first.goto(request_url)
    expect(first.get_by_text("你已查看过")).to_be_visible()


def test_reviewer_labels_a_paraphrase_and_the_bank_learns_it(server: LiveServer,
                                                             browsers: Browsers) -> None:
    from tests.e2e.server import load_bank
    from tests.rumors.debunk_helpers import CHILD_PARAPHRASE

    seed_people(server, ("officer", "founder", "member", "member2"))
    group_id = make_group(server, "founder", ("member", "member2"))
    load_bank(server)
    # A paraphrase of a starter debunk: close enough for a reviewer, not for a card.
    token = _api_token(server, "member")
    r = httpx.post(f"{server.url}/api/groups/{group_id}/messages",
                   headers={"Authorization": f"Bearer {token}"},
                   json={"text": CHILD_PARAPHRASE, "confirm": True})
    assert r.status_code == 201, r.text
    assert not r.json()["labels"] or "cards" not in str(r.json()["labels"])

    officer = browsers.page(viewport=DESKTOP)
    log_in(officer, server.cast["officer"])
    wait_for_item(officer, CHILD_PARAPHRASE)
    officer.get_by_role("row").filter(has_text="发送后被标记").get_by_role("link").first.click()
    expect(officer.get_by_role("heading", name="此消息可能重复的辟谣条目")).to_be_visible()
    expect(officer.locator("#debunks .debunk")).to_contain_text("人贩子")
    officer.get_by_role("button", name="认领").click()
    officer.get_by_label("附上辟谣信息（消息保留）").check()
    expect(officer.get_by_label("将此消息的说法学习为该辟谣条目的说法")).to_be_checked()
    officer.get_by_label("理由", exact=True).fill("重复已辟谣的抢孩子谣言")
    officer.get_by_role("button", name="作出决定").click()
    expect(officer.get_by_role("status")).to_contain_text("已处理")
    expect(officer.locator("dl.facts")).to_contain_text("已附辟谣信息")

    # The bank learned the wording: the debunk's page lists it as learned from the review.
    officer.goto("/officer/debunks?q=人贩子")
    officer.locator("li a[href^='/officer/debunks/']").first.click()
    phrasings = officer.locator("#phrasings")
    expect(phrasings).to_contain_text(CHILD_PARAPHRASE)
    expect(phrasings).to_contain_text("审核时学习")

    # Members see the fact check on the message, and a new copy gets it when it is sent.
    reader = browsers.page()
    log_in(reader, server.cast["member2"])
    reader.goto(f"/groups/{group_id}")
    expect(reader.locator(".msg .debunk").first).to_contain_text("辟谣")
    r = httpx.post(f"{server.url}/api/groups/{group_id}/messages",
                   headers={"Authorization": f"Bearer {token}"},
                   json={"text": CHILD_PARAPHRASE + "！！", "confirm": True})
    assert r.status_code == 201, r.text
    assert "debunk_id" in str(r.json()["labels"])
