"""Red envelopes in a real browser: a member tops up the sandbox wallet, sends a lucky envelope,
two other members open it in their own browsers and the sender sees who claimed how much; an
officer declares an election with the hold policy in the console, a member's envelope is then
held for review (the sender reads why, the others do not see it) and reaches the alerts page."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Browsers
from tests.e2e.server import DESKTOP, LiveServer, log_in, make_group, seed_people

ELECTION = "村委会换届选举"


def open_envelopes(page: Page, group_id: int) -> None:
    """From the chat, by its link, to the group's red envelopes."""
    page.goto(f"/groups/{group_id}")
    page.get_by_role("link", name="红包", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("红包 · 第一工作群")


def top_up(page: Page, yuan: str) -> None:
    page.get_by_label("充值（元）").fill(yuan)
    page.get_by_role("button", name="充值", exact=True).click()


def send(page: Page, total: str, parts: str, kind: str = "拼手气：金额随机") -> None:
    page.get_by_label(kind).check()
    page.get_by_label("总金额（元）").fill(total)
    page.get_by_label("红包个数").fill(parts)
    page.get_by_role("button", name="发送", exact=True).click()


def wallet(page: Page) -> Any:
    return page.locator("p", has_text="我的钱包：").locator("strong")


def expect_beside(page: Page, name: str) -> None:
    """The field's error sits in its own field block, is tied to the input, and the input
    says it is invalid and still required."""
    block = page.locator(f"div.field:has(#f-{name})")
    expect(block).to_have_class(re.compile(r"\binvalid\b"))
    expect(block.locator(f"#f-{name}-error")).to_be_visible()
    expect(page.locator(f"#f-{name}")).to_have_attribute("aria-describedby",
                                                          re.compile(f"f-{name}-error"))
    expect(page.locator(f"#f-{name}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#f-{name}")).to_have_attribute("required", "")


def claims_table(envelope: Any) -> dict[str, str]:
    rows = envelope.locator("table tbody tr")
    found = {}
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td").all_inner_texts()
        found[cells[0]] = cells[1]
    return found


def test_lucky_envelope_sent_opened_by_two_members_and_the_sender_sees_who_got_what(
        server: LiveServer, browsers: Browsers) -> None:
    seed_people(server, ("founder", "member", "member2"))
    group_id = make_group(server, "founder", ("member", "member2"))
    sender = browsers.page()
    log_in(sender, server.cast["founder"])
    open_envelopes(sender, group_id)

    # The wallet says it holds test money, and a bad top-up is refused beside its field.
    expect(sender.locator(".badge", has_text="沙盒：非真实资金")).to_be_visible()
    expect(wallet(sender)).to_have_text("0.00")
    top_up(sender, "0")
    expect(sender.locator("#f-amount_yuan-error")).to_have_text(
        re.compile(r"请输入以元为单位的金额，例如 8\.88。"))
    expect_beside(sender, "amount_yuan")
    expect(sender.get_by_label("充值（元）")).to_have_value("0")
    expect(wallet(sender)).to_have_text("0.00")
    assert "Traceback" not in sender.content()
    top_up(sender, "100")
    expect(wallet(sender)).to_have_text("100.00")
    expect(sender.locator("#f-amount_yuan-error")).to_be_hidden()

    send(sender, "8.88", "2")
    envelope = sender.locator("article.envelope")
    expect(envelope).to_have_count(1)
    expect(envelope).to_contain_text("群主乙 · 8.88 元 · 拼手气 · 剩余 2 / 2 个")
    expect(envelope.get_by_role("button", name="领取")).to_have_count(0)  # not one's own
    expect(wallet(sender)).to_have_text("91.12")

    got: dict[str, str] = {}
    for key in ("member", "member2"):
        page = browsers.page(viewport=DESKTOP if key == "member2" else None)
        person = server.cast[key]
        log_in(page, person)
        open_envelopes(page, group_id)
        mine = page.locator("article.envelope")
        expect(mine).to_contain_text("群主乙 · 8.88 元 · 拼手气")
        mine.get_by_role("button", name="领取").click()
        status = page.locator("p.notice.ok[role=status]")
        expect(status).to_have_text(re.compile(r"你抢到了 \d+\.\d{2} 元。"))
        amount = re.search(r"(\d+\.\d{2})", status.inner_text())
        assert amount is not None
        got[person.display_name] = amount.group(1)
        expect(wallet(page)).to_have_text(amount.group(1))
        # Opened once: the button is gone, and the member's own line is in the table.
        expect(page.locator("article.envelope").get_by_role("button", name="领取")) \
            .to_have_count(0)
        assert claims_table(page.locator("article.envelope"))[person.display_name] \
            == amount.group(1)

    assert all(Decimal(v) >= Decimal("0.01") for v in got.values())
    assert sum(Decimal(v) for v in got.values()) == Decimal("8.88")  # the last took the rest

    # The sender reads who claimed how much.
    sender.reload()
    envelope = sender.locator("article.envelope")
    expect(envelope).to_contain_text("剩余 0 / 2 个")
    expect(envelope.get_by_role("columnheader")).to_have_text(["成员", "金额（元）", "时间"])
    assert claims_table(envelope) == got
    expect(wallet(sender)).to_have_text("91.12")


def _local(moment: datetime) -> str:
    """A datetime-local field's value (the console types times in UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M")


def wait_for_alert(page: Page) -> None:
    """The outbox runs the detectors within a moment of the send; reload until it shows."""
    deadline = time.monotonic() + 15
    while True:
        page.goto("/officer/alerts")
        if page.locator("li[id^=alert-]").count():
            return
        if time.monotonic() > deadline:
            raise AssertionError("no red-envelope alert reached the console")
        time.sleep(0.3)


def test_officer_declares_a_hold_election_and_a_members_envelope_is_held(
        server: LiveServer, browsers: Browsers) -> None:
    seed_people(server, ("officer", "founder", "member", "member2"))
    group_id = make_group(server, "founder", ("member", "member2"))
    candidate = server.cast["member"]

    officer = browsers.page(viewport=DESKTOP)
    log_in(officer, server.cast["officer"])
    officer.goto("/officer")
    officer.get_by_role("navigation", name="值班控制台").get_by_role("link", name="选举期").click()
    expect(officer.get_by_role("heading", name="选举期", exact=True)).to_be_visible()
    expect(officer.get_by_text("没有选举期。")).to_be_visible()
    now = datetime.now(UTC)
    form = officer.locator("#declare form")
    form.get_by_label("名称", exact=True).fill(ELECTION)
    form.get_by_role("radio", name="单个群组").check()
    form.get_by_label("群组编号（单个群组时）").fill(str(group_id))
    form.get_by_label("开始", exact=True).fill(_local(now - timedelta(hours=1)))
    form.get_by_label("结束", exact=True).fill(_local(now + timedelta(days=7)))
    form.get_by_role("radio", name="暂扣：每个红包由审核人员放行或拒绝").check()
    form.get_by_label("候选人（账号编号，以逗号分隔）").fill(str(candidate.id))
    form.get_by_role("button", name="宣布").click()
    expect(officer.get_by_role("status")).to_have_text("已宣布选举。")
    declared = officer.locator("li[id^=election-]")
    expect(declared).to_have_count(1)
    expect(declared).to_contain_text(ELECTION)
    expect(declared.locator("code")).to_have_text("hold")
    expect(declared.get_by_role("link", name=f"群 {group_id}")).to_be_visible()
    expect(declared).to_contain_text(f"{candidate.display_name} (候选人")

    # The member sends into the covered group: first over the limit, then a held envelope.
    member = browsers.page()
    log_in(member, candidate)
    open_envelopes(member, group_id)
    top_up(member, "50")
    expect(wallet(member)).to_have_text("50.00")
    send(member, "300", "2")
    expect(member.locator("#f-total_yuan-error")).to_have_text(
        re.compile("金额超过单个红包上限。"))
    expect_beside(member, "total_yuan")
    expect(member.get_by_label("总金额（元）")).to_have_value("300")
    expect(member.get_by_label("红包个数")).to_have_value("2")
    expect(member.locator("article.envelope")).to_have_count(0)
    expect(wallet(member)).to_have_text("50.00")  # nothing moved
    send(member, "20", "2", kind="普通：金额相同")
    held = member.locator("article.envelope")
    expect(held).to_have_count(1)
    expect(held).to_contain_text("成员丁 · 20.00 元 · 普通 · 剩余 2 / 2 个")
    notice = held.get_by_role("status")
    expect(notice).to_contain_text("等待审核：审核员放行前，任何人都不能领取。")
    # Why: the election's reason in the reader's language, naming the election.
    expect(notice).to_contain_text(f"原因：选举“{ELECTION}”期间（截至 ")
    expect(notice).to_contain_text("本群红包须经审核后才能领取。")
    expect(notice).not_to_contain_text("The election")
    expect(held.get_by_role("button", name="领取")).to_have_count(0)
    expect(wallet(member)).to_have_text("30.00")  # in escrow until a reviewer decides

    # Another member of the group sees neither the envelope nor its reason.
    other = browsers.page()
    log_in(other, server.cast["member2"])
    open_envelopes(other, group_id)
    expect(other.locator("article.envelope")).to_have_count(0)
    expect(other.get_by_text("本群还没有红包。")).to_be_visible()
    assert ELECTION not in other.content()
    assert "等待审核" not in other.content()

    # The console's alerts page shows the candidate's envelope with its evidence.
    officer.get_by_role("navigation", name="值班控制台") \
        .get_by_role("link", name="红包预警").click()
    wait_for_alert(officer)
    alert = officer.locator("li[id^=alert-]")
    expect(alert).to_have_count(1)
    expect(alert.get_by_role("heading")).to_contain_text("候选人或关联人发送了红包")
    expect(alert).to_contain_text(f"{candidate.display_name} (账号 {candidate.id})")
    expect(alert.get_by_role("link", name="第一工作群")).to_be_visible()
    expect(alert).to_contain_text(ELECTION)
    alert.get_by_text("证据").click()
    expect(alert.locator("table")).to_contain_text("envelope_send")
    expect(alert.locator("table")).to_contain_text("20.00")
