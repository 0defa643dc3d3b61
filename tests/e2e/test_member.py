"""Members in a real browser: registering, verifying, chatting live."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.cast import resident_id
from tests.e2e.conftest import Browsers
from tests.e2e.server import (
    DESKTOP,
    LiveServer,
    account_id_by_phone,
    impose_warning,
    load_bank,
    make_group,
    seed_people,
)


def log_in(page, person) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_label("手机号").fill(person.phone)
    page.get_by_label("密码").fill(person.password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/groups$"))


def test_newcomer_registers_and_is_refused_posting_until_verified(
        server: LiveServer, browsers: Browsers) -> None:
    seed_people(server, ("founder",))
    newcomer = server.cast["newcomer"]
    page = browsers.page()
    page.goto("/")
    expect(page).to_have_url(f"{server.url}/login")
    page.get_by_role("link", name="注册账号").click()

    # Bad input first: errors next to the fields, in Chinese, what was typed kept.
    page.get_by_label("手机号").fill("12345")
    page.get_by_label("密码").fill("short")
    page.get_by_label("昵称").fill("官方客服")
    page.get_by_role("button", name="注册").click()
    expect(page.locator("#f-phone-error")).to_contain_text("11 位中国大陆手机号")
    expect(page.locator("#f-password-error")).to_contain_text("至少 8 个字符")
    expect(page.locator("#f-display_name-error")).to_contain_text("机构或官方人员")
    expect(page.get_by_label("手机号")).to_have_value("12345")
    expect(page.get_by_label("昵称")).to_have_value("官方客服")
    expect(page.get_by_label("手机号")).to_have_attribute("aria-invalid", "true")
    assert "Traceback" not in page.content()

    page.get_by_label("手机号").fill(newcomer.phone)
    page.get_by_label("密码").fill(newcomer.password)
    page.get_by_label("昵称").fill(newcomer.display_name)
    page.get_by_role("button", name="注册").click()
    expect(page.get_by_role("heading", name="实名认证")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("发言前请先完成实名认证")

    server.cast["newcomer"].id = account_id_by_phone(server, newcomer.phone)
    group_id = make_group(server, "founder", ("newcomer",))
    page.goto("/groups")
    page.get_by_role("link", name="第一工作群").click()
    page.get_by_label("消息").fill("大家好，我是新人")
    page.get_by_role("button", name="发送", exact=True).click()
    expect(page.locator("#form-errors")).to_contain_text("请先完成实名认证")
    expect(page.get_by_label("消息")).to_have_value("大家好，我是新人")
    expect(page.locator(".msg")).to_have_count(0)

    # Verify with a resident ID: a wrong number is refused next to its field.
    page.get_by_role("link", name="去认证").first.click()
    form = page.locator("#verify-resident_id")
    form.get_by_label("真实姓名").fill("柳青青")
    form.get_by_label("身份证号").fill("110105199001011234")
    form.get_by_role("button", name="认证").click()
    form = page.locator("#verify-resident_id")
    expect(form.locator("#f-resident_id-id_number-error")).to_contain_text("不是有效的居民身份证号")
    expect(form.get_by_label("真实姓名")).to_have_value("柳青青")
    form.get_by_label("身份证号").fill(resident_id("110105", "19900101", "077"))
    form.get_by_role("button", name="认证").click()
    expect(page.get_by_role("status")).to_contain_text("已完成实名认证")

    page.goto(f"/groups/{group_id}")
    page.get_by_label("消息").fill("大家好，我是新人")
    page.get_by_role("button", name="发送", exact=True).click()
    expect(page.locator(".msg .text")).to_have_text(["大家好，我是新人"])


def test_two_members_chat_live(server: LiveServer, browsers: Browsers) -> None:
    seed_people(server, ("founder", "member"))
    group_id = make_group(server, "founder", ("member",))
    founder = browsers.page()
    member = browsers.page(viewport=DESKTOP)
    log_in(founder, server.cast["founder"])
    log_in(member, server.cast["member"])
    founder.goto(f"/groups/{group_id}")
    member.goto(f"/groups/{group_id}")
    for page in (founder, member):
        expect(page.locator(".chat")).to_have_attribute("data-connected", "1")

    founder.get_by_label("消息").fill("下午三点开会，请准时参加")
    founder.get_by_role("button", name="发送", exact=True).click()
    # Arrives on the other member's open page without a reload, over the WebSocket.
    expect(member.locator(".msg .text")).to_have_text(["下午三点开会，请准时参加"])

    # A reply, sent with the keyboard (Ctrl+Enter), arrives the other way.
    member.get_by_role("button", name="回复").first.click()
    expect(member.locator("#replying")).to_be_visible()
    member.get_by_label("消息").fill("收到")
    member.get_by_label("消息").press("Control+Enter")
    expect(founder.locator(".msg .text")).to_have_text(["下午三点开会，请准时参加", "收到"])
    expect(founder.locator(".msg .quote")).to_contain_text("下午三点开会")

    # Recall: the other page shows it recalled.
    member.locator(".msg.mine").get_by_role("button", name="撤回").click()
    expect(founder.locator(".msg.recalled")).to_contain_text("该消息已撤回")


def test_member_forwards_a_debunked_rumour_and_sees_the_card_and_the_prompt(
        server: LiveServer, browsers: Browsers) -> None:
    seed_people(server, ("officer", "founder", "member"))
    load_bank(server)
    first = make_group(server, "founder", ("member",), name="村民群")
    make_group(server, "founder", ("member",), name="家长群")
    make_group(server, "founder", ("member",), name="志愿者群")
    rumour = "喝醋、在家里熏醋可以杀灭病毒，预防流感和新冠肺炎，大家赶紧熏起来"
    founder = browsers.page()
    log_in(founder, server.cast["founder"])
    founder.goto(f"/groups/{first}")
    founder.get_by_label("消息").fill(rumour)
    founder.get_by_role("button", name="发送", exact=True).click()
    expect(founder.locator(".debunk")).to_contain_text("辟谣")

    page = browsers.page()
    log_in(page, server.cast["member"])
    page.goto(f"/groups/{first}")
    card = page.locator(".msg .debunk")
    expect(card).to_contain_text("谣言")
    expect(card).to_contain_text("醋酸浓度很低")
    page.get_by_role("link", name="转发").first.click()
    page.get_by_label("家长群").check()
    page.get_by_label("志愿者群").check()
    page.get_by_role("button", name="转发", exact=True).click()
    prompt = page.get_by_role("alertdialog")
    expect(prompt).to_contain_text("转发前请注意")
    expect(prompt.locator(".debunk")).to_contain_text("醋酸浓度很低")
    page.get_by_role("button", name="仍要转发").click()
    expect(page.locator(".chat-head h1")).to_have_text("家长群")
    copy = page.locator(".msg")
    expect(copy).to_have_count(1)
    expect(copy.locator(".debunk")).to_contain_text("醋酸浓度很低")
    expect(copy.locator(".fwd")).to_contain_text("共被转发 2 次")


def test_member_reads_the_statement_and_appeals(server: LiveServer,
                                                browsers: Browsers) -> None:
    seed_people(server, ("officer", "member"))
    impose_warning(server, "officer", "member", "多次在群内发布广告")
    page = browsers.page()
    log_in(page, server.cast["member"])
    page.get_by_role("link", name="我的处理").click()
    expect(page.locator(".item")).to_contain_text("警告")
    statement = page.locator(".statement").first
    expect(statement).to_contain_text("多次在群内发布广告")
    statement.get_by_role("button", name="提交申诉").click()
    expect(statement.locator(".error")).to_contain_text("请说明该决定为何有误")
    statement = page.locator(".statement").first
    statement.get_by_label("申诉：该决定为何有误？").fill("那是村里的通知，不是广告。")
    statement.get_by_role("button", name="提交申诉").click()
    expect(page.locator(".statement").first).to_contain_text("申诉等待处理")


def test_member_founds_a_group_invites_another_who_accepts_and_they_chat(
        server: LiveServer, browsers: Browsers) -> None:
    seed_people(server, ("founder", "member"))
    founder = browsers.page()
    member = browsers.page(viewport=DESKTOP)
    log_in(founder, server.cast["founder"])
    log_in(member, server.cast["member"])

    # The invitee reads their account number on the profile page and passes it on.
    member.goto("/profile")
    number = member.locator("code").first.inner_text()
    assert number == str(account_id_by_phone(server, server.cast["member"].phone))

    founder.get_by_role("link", name="创建群").first.click()
    founder.get_by_role("button", name="创建", exact=True).click()  # every field empty
    expect(founder.locator("#f-name-error")).to_contain_text("请填写群名称")
    expect(founder.locator("#f-category-error")).to_contain_text("请选择类别")
    founder.get_by_label("群名称").fill("读书会")
    founder.get_by_label("类别").select_option("social")
    founder.get_by_label("群规").fill("只谈读书，不发广告。")
    founder.get_by_role("button", name="创建", exact=True).click()
    expect(founder.get_by_role("heading", name="读书会")).to_be_visible()
    founder.get_by_role("link", name="管理").click()
    founder.get_by_label("账号").fill("99999")
    founder.get_by_role("button", name="邀请", exact=True).click()
    expect(founder.locator("#f-account_id-error")).to_contain_text("没有这个账号")
    expect(founder.get_by_label("账号")).to_have_value("99999")
    founder.get_by_label("账号").fill(number)
    founder.get_by_role("button", name="邀请", exact=True).click()
    expect(founder.get_by_role("status")).to_contain_text(f"已向账号 {number} 发出邀请")

    member.goto("/groups")
    member.get_by_role("link", name="待处理的入群邀请：1 个").click()
    invitation = member.locator("article.item")
    expect(invitation).to_contain_text("读书会")
    expect(invitation).to_contain_text("只谈读书，不发广告。")
    invitation.get_by_role("button", name="接受并入群").click()  # the rules not acknowledged
    expect(member.locator(".error").first).to_contain_text("请阅读并确认群规")
    member.get_by_label("我已阅读并同意群规").check()
    member.get_by_role("button", name="接受并入群").click()
    expect(member.locator(".chat-head h1")).to_have_text("读书会")

    founder.get_by_role("link", name="返回聊天").first.click()
    for page in (founder, member):
        expect(page.locator(".chat")).to_have_attribute("data-connected", "1")
    founder.get_by_label("消息").fill("欢迎加入读书会")
    founder.get_by_role("button", name="发送", exact=True).click()
    expect(member.locator(".msg .text")).to_have_text(["欢迎加入读书会"])
    member.get_by_label("消息").fill("谢谢群主")
    member.get_by_role("button", name="发送", exact=True).click()
    expect(founder.locator(".msg .text")).to_have_text(["欢迎加入读书会", "谢谢群主"])
