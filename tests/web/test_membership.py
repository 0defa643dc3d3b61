"""Belonging to groups on the pages: founding a group, inviting by account number, my
invitations with the rules to acknowledge, leaving a group."""

from __future__ import annotations

import re
from typing import Any

from qunguan.kernel.events import EventType
from tests.conftest import Cast, audit_records, outbox_events
from tests.web.conftest import Web, errors_of


def test_found_a_group_with_errors_next_to_their_fields(web: Web, cast: Cast,
                                                        app: Any) -> None:
    founded = len(audit_records(app, EventType.GROUP_CREATED))  # the cast's group
    web.as_(cast.outsider)
    form = web.get("/groups/new").text
    assert 'for="f-category"' in form
    assert "党支部" in form
    r = web.post("/groups/new", {"name": " ", "category": "politics", "tier": "9",
                                 "join_policy": "approval", "rules_text": "守规矩",
                                 "member_cap": "1"})
    assert r.status_code == 422
    errors = errors_of(r.text)
    assert errors["f-name-error"] == "请填写群名称。"
    assert errors["f-category-error"] == "请选择类别。"
    assert errors["f-tier-error"] == "请选择群级别。"
    assert errors["f-member_cap-error"] == "请输入 2 到 500 之间的数字，或留空。"
    assert "守规矩</textarea>" in r.text
    assert len(audit_records(app, EventType.GROUP_CREATED)) == founded
    r = web.post("/groups/new", {"name": "x" * 65, "category": "work", "tier": "1",
                                 "join_policy": "approval"})
    assert errors_of(r.text)["f-name-error"] == "最多 64 个字符。"
    r = web.post("/groups/new", {"name": "村务公开群", "category": "village_committee",
                                 "tier": "2", "join_policy": "invite_only",
                                 "rules_text": "只谈村务", "member_cap": "80"})
    assert r.status_code == 303
    gid = int(r.headers["location"].split("/")[2])
    assert r.headers["location"] == f"/groups/{gid}/info"
    record = audit_records(app, EventType.GROUP_CREATED)[-1]
    assert (record.acting_id, record.extra["category"], record.extra["tier"],
            record.extra["member_cap"]) == (cast.outsider.id, "village_committee", 2, 80)
    assert outbox_events(app, EventType.GROUP_CREATED)[-1].group_id == gid
    page = web.get(f"/groups/{gid}/info").text
    assert "村委会" in page
    assert f'href="/groups/{gid}/admin"' in page
    # An unverified account is told why, the name kept.
    r = web.as_(cast.newcomer).post("/groups/new", {"name": "新人群", "category": "social",
                                                    "tier": "1", "join_policy": "approval"})
    assert r.status_code == 422
    assert errors_of(r.text)["form-errors"] == "请先完成实名认证。"
    assert 'value="新人群"' in r.text


def test_invite_by_account_number_then_accept_acknowledging_the_rules(
        web: Web, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    # Only the founder and admins invite.
    r = web.as_(cast.member).post(f"/groups/{gid}/invitations",
                                  {"account_id": str(cast.outsider.id)})
    assert r.status_code == 403
    assert audit_records(app, EventType.MEMBER_INVITED)[-1].subject_id != str(cast.outsider.id)
    web.as_(cast.admin)
    page = web.get(f"/groups/{gid}/admin").text
    assert 'for="f-account_id"' in page
    for bad, sentence in (("abc", "请输入被邀请人的账号。"), ("", "请输入被邀请人的账号。"),
                          ("999999", "没有这个账号。"),
                          (str(cast.member.id), "该账号已是本群成员。")):
        r = web.post(f"/groups/{gid}/invitations", {"account_id": bad})
        assert r.status_code == 422, bad
        assert errors_of(r.text)["f-account_id-error"] == sentence, bad
        assert f'value="{bad}"' in r.text
    r = web.post(f"/groups/{gid}/invitations", {"account_id": str(cast.outsider.id)})
    assert r.status_code == 303
    assert f"invited={cast.outsider.id}" in r.headers["location"]
    record = audit_records(app, EventType.MEMBER_INVITED)[-1]
    assert (record.acting_id, record.subject_id) == (cast.admin.id, str(cast.outsider.id))
    assert f"已向账号 {cast.outsider.id} 发出邀请" in web.get(
        f"/groups/{gid}/admin?invited={cast.outsider.id}").text
    # The invitee sees it, with the group's rules, and must acknowledge them.
    web.as_(cast.outsider)
    assert "待处理的入群邀请：1 个" in web.get("/groups").text
    assert str(cast.outsider.id) in web.get("/profile").text
    page = web.get("/me/invitations").text
    assert "项目协调群" in page
    assert "邀请人：管家丙" in page
    assert "文明交流" in page
    invitation = re.search(r'action="/me/invitations/(\d+)/accept"', page)
    assert invitation
    iid = invitation.group(1)
    r = web.post(f"/me/invitations/{iid}/accept", {})
    assert r.status_code == 422
    assert errors_of(r.text)[f"f-{iid}-rules_version-error"] == "请阅读并确认群规。"
    # Someone else's invitation answers like a missing one.
    r = web.as_(cast.member2).post(f"/me/invitations/{iid}/accept", {"rules_version": "1"})
    assert r.status_code == 404
    r = web.as_(cast.outsider).post(f"/me/invitations/{iid}/accept", {"rules_version": "1"})
    assert (r.status_code, r.headers["location"]) == (303, f"/groups/{gid}")
    joined = audit_records(app, EventType.MEMBER_JOINED)[-1]
    assert (joined.acting_id, joined.extra["via"]) == (cast.outsider.id, "invitation")
    assert web.get(f"/groups/{gid}").status_code == 200
    assert "没有待处理的邀请" in web.get("/me/invitations").text


def test_leave_a_group_but_not_as_its_founder(web: Web, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    r = web.as_(cast.outsider).post(f"/groups/{gid}/leave")
    assert r.status_code == 404
    web.as_(cast.founder)
    page = web.get(f"/groups/{gid}/info").text
    assert f'action="/groups/{gid}/leave"' not in page
    r = web.post(f"/groups/{gid}/leave")
    assert r.status_code == 422
    assert errors_of(r.text)["leave-errors"] == "你是群主：请先把群转让给其他成员，再退出。"
    assert audit_records(app, EventType.MEMBER_LEFT) == []
    web.as_(cast.member2)
    assert f'action="/groups/{gid}/leave"' in web.get(f"/groups/{gid}/info").text
    r = web.post(f"/groups/{gid}/leave")
    assert (r.status_code, r.headers["location"]) == (303, "/groups?left=1")
    assert audit_records(app, EventType.MEMBER_LEFT)[-1].acting_id == cast.member2.id
    assert outbox_events(app, EventType.MEMBER_LEFT)[-1].payload["account_id"] == cast.member2.id
    page = web.get("/groups?left=1").text
    assert "你已退出该群" in page
    assert "项目协调群" not in page
    assert web.get(f"/groups/{gid}").status_code == 404
