"""Account pages: register, log in and out, verify, display name, language; sessions in a
cookie, CSRF on every form, errors next to the field without personal data sent back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from qunguan.identity.models import Account, AuthToken
from qunguan.kernel.events import EventType
from tests.cast import resident_id
from tests.conftest import Cast, audit_records, outbox_events
from tests.web.conftest import Web, errors_of


def test_pages_need_a_login_and_come_back_after_it(web: Web, cast: Cast) -> None:
    r = web.as_(None).get("/groups/1?before=x")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fgroups%2F1%3Fbefore%3Dx"
    r = web.get("/")
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    r = web.post("/login", {"phone": cast.member.phone, "password": cast.member.password,
                            "next": "/groups"})
    assert (r.status_code, r.headers["location"]) == (303, "/groups")
    cookie = r.headers["set-cookie"]
    assert "qunguan_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert web.get("/groups").status_code == 200


def test_login_is_identity_s_session_with_its_records(web: Web, cast: Cast, app: Any) -> None:
    before = len(audit_records(app, EventType.LOGGED_IN))
    r = web.as_(None).post("/login", {"phone": cast.member.phone,
                                      "password": cast.member.password})
    assert r.status_code == 303
    assert len(audit_records(app, EventType.LOGGED_IN)) == before + 1
    assert outbox_events(app, EventType.LOGGED_IN)[-1].payload["account_id"] == cast.member.id
    token = web.client.cookies.get("qunguan_session")
    # The cookie's token is an API bearer token like any other.
    r = web.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.json()["id"] == cast.member.id
    r = web.post("/logout")
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    assert len(audit_records(app, EventType.LOGGED_OUT)) == 1
    r = web.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.json()["error"]["code"] == "invalid_token"


def test_failed_login_keeps_its_record_and_says_so_in_chinese(web: Web, cast: Cast,
                                                              app: Any) -> None:
    r = web.as_(None).post("/login", {"phone": cast.member.phone, "password": "wrong-pass"})
    assert r.status_code == 422
    assert errors_of(r.text) == {"form-errors": "手机号或密码错误。"}
    assert len(audit_records(app, EventType.LOGIN_FAILED)) == 1  # kept despite the error
    assert cast.member.phone not in r.text  # the number typed is not sent back
    assert "qunguan_session" not in r.headers.get("set-cookie", "")


def test_forms_without_the_csrf_token_are_refused(web: Web, cast: Cast, app: Any) -> None:
    r = web.as_(None).post("/login", {"phone": cast.member.phone,
                                      "password": cast.member.password}, csrf=False)
    assert r.status_code == 403
    assert "表单已过期" in r.text
    assert audit_records(app, EventType.LOGGED_IN) == [] or all(
        a.acting_id != cast.member.id for a in audit_records(app, EventType.LOGGED_IN)[-1:])
    web.as_(cast.member)
    web.csrf()
    r = web.client.post("/profile", data={"display_name": "被伪造", "csrf_token": "forged"},
                        follow_redirects=False)
    assert r.status_code == 403
    r = web.client.post("/profile", data={"display_name": "被伪造"},
                        headers={"X-CSRF-Token": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    assert web.client.get("/api/me", headers=cast.member.auth).json()["display_name"] == \
        cast.member.display_name


def test_register_shows_every_error_at_once_and_sends_no_number_back(
        web: Web, app: Any) -> None:
    r = web.as_(None).post("/register", {"phone": "13912", "password": "short",
                                         "display_name": "公安小王"})
    assert r.status_code == 422
    errors = errors_of(r.text)
    assert errors["f-phone-error"] == "请输入 11 位中国大陆手机号。"
    assert errors["f-password-error"] == "至少 8 个字符。"
    assert "机构或官方人员" in errors["f-display_name-error"]
    assert 'value="公安小王"' in r.text  # what was typed, unless it is personal data
    assert "13912" not in r.text
    assert audit_records(app, EventType.ACCOUNT_REGISTERED) == []
    # htmx: only the error elements come back, swapped in place; the typed values stay.
    r = web.post("/register", {"phone": "13912", "password": "short",
                               "display_name": "小王"}, htmx=True)
    assert r.status_code == 200
    assert r.text.count('hx-swap-oob="true"') == 4
    assert "<form" not in r.text
    assert "13912" not in r.text
    assert errors_of(r.text).keys() == {"f-phone-error", "f-password-error"}


def test_register_logs_in_and_asks_for_verification(web: Web, app: Any) -> None:
    r = web.as_(None).post("/register", {"phone": "13911119999", "password": "long-enough-1",
                                         "display_name": "小王"}, htmx=True)
    assert (r.status_code, r.headers["hx-redirect"]) == (200, "/verify?welcome=1")
    assert len(audit_records(app, EventType.ACCOUNT_REGISTERED)) == 1
    r = web.get("/verify?welcome=1")
    assert "欢迎" in r.text
    assert "居民身份证" in r.text
    assert web.get("/register").headers["location"] == "/groups"  # logged in already
    web.as_(None)
    r = web.post("/register", {"phone": "13911119999", "password": "long-enough-1",
                               "display_name": "小王二"})
    assert errors_of(r.text) == {"f-phone-error": "该手机号已注册，请直接登录。"}


def test_verify_errors_never_echo_the_identity(web: Web, cast: Cast, app: Any) -> None:
    web.as_(cast.newcomer)
    bad = "110105199001011234"
    r = web.post("/verify", {"provider": "resident_id", "legal_name": "柳青青",
                             "id_number": bad})
    assert r.status_code == 422
    assert errors_of(r.text) == {"f-resident_id-id_number-error": "这不是有效的居民身份证号。"}
    assert bad not in r.text
    assert "柳青青" not in r.text
    r = web.post("/verify", {"provider": "resident_id", "legal_name": "",
                             "id_number": ""}, htmx=True)
    assert errors_of(r.text) == {"f-resident_id-legal_name-error": "此项必填。",
                                 "f-resident_id-id_number-error": "此项必填。"}
    r = web.post("/verify", {"provider": "nope"})
    assert errors_of(r.text) == {"form-errors-nope": "请选择下列一种认证方式。"}
    good = resident_id("110105", "19900101", "077")
    r = web.post("/verify", {"provider": "resident_id", "legal_name": "柳青青",
                             "id_number": good})
    assert (r.status_code, r.headers["location"]) == (303, "/verify")
    assert good not in r.text
    record = audit_records(app, EventType.ACCOUNT_VERIFIED)[-1]
    assert (record.subject_id, record.acting_id) == (str(cast.newcomer.id), cast.newcomer.id)
    assert "已完成实名认证" in web.get("/verify").text


def test_network_id_form_reports_a_bad_credential_next_to_it(web: Web, cast: Cast) -> None:
    r = web.as_(cast.newcomer).post("/verify", {"provider": "network_id", "token": "x.y"})
    assert errors_of(r.text) == {"f-network_id-token-error": "凭证未通过核验。"}


def test_display_name_is_chosen_and_checked(web: Web, cast: Cast, app: Any) -> None:
    web.as_(cast.member)
    r = web.post("/profile", {"display_name": "管理员"})
    assert r.status_code == 422
    assert "机构或官方人员" in errors_of(r.text)["f-display_name-error"]
    assert 'value="管理员"' in r.text
    r = web.post("/profile", {"display_name": "小丁"})
    assert r.status_code == 200
    assert "已保存" in r.text
    assert audit_records(app, EventType.PROFILE_UPDATED)[-1].extra["display_name"] == \
        {"old": cast.member.display_name, "new": "小丁"}


def test_language_switch_and_safe_next(web: Web, cast: Cast) -> None:
    web.as_(cast.member)
    r = web.post("/language", {"lang": "en", "next": "/groups"})
    assert (r.status_code, r.headers["location"]) == (303, "/groups")
    page = web.get("/groups").text
    assert "Your groups" in page
    assert '<html lang="en">' in page
    r = web.post("/language", {"lang": "zh_CN", "next": "//evil.example/x"})
    assert r.headers["location"] == "/"
    assert "我的群" in web.get("/groups").text
    r = web.as_(None).post("/login", {"phone": cast.member.phone,
                                      "password": cast.member.password,
                                      "next": "https://evil.example"})
    assert r.headers["location"] == "/groups"


def test_overlong_fields_are_refused_before_any_action(web: Web, app: Any) -> None:
    r = web.as_(None).post("/register", {"phone": "1" * 5000, "password": "x" * 5000,
                                         "display_name": "y" * 5000})
    assert r.status_code == 422
    assert errors_of(r.text)["f-password-error"].startswith("内容太长")
    assert audit_records(app, EventType.ACCOUNT_REGISTERED) == []


def test_session_cookie_of_a_closed_session_is_a_login_again(web: Web, cast: Cast,
                                                             app: Any) -> None:
    web.as_(cast.member)
    uow = app.state.uows()
    for row in uow.session.scalars(select(AuthToken).where(
            AuthToken.account_id == cast.member.id)):
        row.revoked_at = uow.now()
    uow.commit()
    uow.close()
    assert web.get("/groups").status_code == 303
    assert Account  # the model is the account the cookie named


def test_a_csrf_token_works_only_in_the_session_it_was_issued_in(web: Web, cast: Cast,
                                                                  app: Any) -> None:
    """Double submit alone would take any cookie and field that match; the token is also
    bound to the session, so one from another session (or planted by a sibling site with its
    own cookie) is refused, and logging in issues a new one."""
    web.as_(cast.member)
    mine = web.csrf()
    assert web.post("/profile", {"display_name": "成员丁丁"}).status_code == 200
    web.as_(cast.member2)
    theirs = web.csrf()
    assert theirs != mine
    # member2's browser carrying member's token in both the cookie and the field.
    web.client.cookies.set("qunguan_csrf", mine, domain="testserver.local")
    r = web.client.post("/profile", data={"display_name": "被冒用", "csrf_token": mine},
                        follow_redirects=False)
    assert r.status_code == 403
    assert "表单已过期" in r.text
    r = web.client.post("/profile", data={"display_name": "被冒用"},
                        headers={"X-CSRF-Token": mine}, follow_redirects=False)
    assert r.status_code == 403
    assert web.client.get("/api/me", headers=cast.member2.auth).json()["display_name"] == \
        cast.member2.display_name
    # A page opened with the stale cookie mints one that fits this session, and it works.
    page = web.get("/profile")
    fresh = web.client.cookies.get("qunguan_csrf")
    assert fresh not in (None, mine)
    assert f'value="{fresh}"' in page.text
    r = web.client.post("/profile", data={"display_name": "成员戊戊", "csrf_token": fresh},
                        follow_redirects=False)
    assert r.status_code == 200
    # Logging in replaces the token of the login form (bound to no session).
    web.as_(None)
    anonymous = web.csrf()
    r = web.post("/login", {"phone": cast.member.phone, "password": cast.member.password})
    assert r.status_code == 303
    after = web.client.cookies.get("qunguan_csrf")
    assert after not in (None, anonymous)
    r = web.client.post("/profile", data={"display_name": "成员丁三", "csrf_token": anonymous},
                        follow_redirects=False)
    assert r.status_code == 403
    assert web.post("/profile", {"display_name": "成员丁三"}).status_code == 200
