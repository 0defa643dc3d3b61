"""Governance pages of a member: sanctions with statements and the appeal form, reporting a
message, my reports and their outcomes; the group info page, rules and joining."""

from __future__ import annotations

import re
from typing import Any

from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, outbox_events
from tests.enforcement.sanction_helpers import impose
from tests.web.conftest import Web, errors_of


def test_sanction_statement_and_appeal(web: Web, api: Api, cast: Cast, app: Any) -> None:
    web.as_(cast.member)
    page = web.get("/me/sanctions").text
    assert "你从未受到处理" in page
    sanction = impose(api, cast.officer, cast.member, "warning", reason="多次在群内发布广告")
    page = web.get("/me/sanctions").text
    assert "警告" in page
    assert "多次在群内发布广告" in page
    statement = re.search(r'id="statement-(\d+)"', page)
    assert statement
    sid = int(statement.group(1))
    r = web.post(f"/me/statements/{sid}/appeal", {"text": "  "})
    assert r.status_code == 422
    assert errors_of(r.text)[f"f-{sid}-text-error"] == "请说明该决定为何有误。"
    r = web.post(f"/me/statements/{sid}/appeal", {"text": "那是村里的通知，不是广告。"})
    assert (r.status_code, r.headers["location"]) == (303, f"/me/sanctions#statement-{sid}")
    record = audit_records(app, EventType.APPEAL_FILED)[-1]
    assert record.acting_id == cast.member.id
    assert outbox_events(app, EventType.APPEAL_FILED)
    page = web.get("/me/sanctions").text
    assert "申诉等待处理" in page
    assert f'action="/me/statements/{sid}/appeal"' not in page
    r = web.post(f"/me/statements/{sid}/appeal", {"text": "再申诉一次"})
    assert errors_of(r.text)[f"form-errors-{sid}"] == "你已对该决定提出过申诉。"
    # Someone else's statement: not found, as a page.
    r = web.as_(cast.member2).post(f"/me/statements/{sid}/appeal", {"text": "冒名"})
    assert r.status_code == 404
    assert sanction["id"]


def test_report_a_message_and_see_it_in_my_reports(web: Web, api: Api, cast: Cast,
                                                   app: Any) -> None:
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast.founder,
                 json={"text": "加我微信领补贴"})
    mid = r.json()["id"]
    web.as_(cast.member)
    assert "举报消息" in web.get(f"/messages/{mid}/report").text
    r = web.post(f"/messages/{mid}/report", {"reason": "nonsense", "note": "骗子"})
    assert r.status_code == 422
    errors = errors_of(r.text)
    assert errors["f-reason-error"] == "请选择原因。"
    assert errors["f-good_faith-error"] == "举报须出于善意：请确认。"
    assert "骗子</textarea>" in r.text
    r = web.post(f"/messages/{mid}/report", {"reason": "fraud", "note": "骗子",
                                             "good_faith": "1"})
    assert (r.status_code, r.headers["location"]) == (303, "/me/reports")
    record = audit_records(app, EventType.REPORT_FILED)[-1]
    assert record.acting_id == cast.member.id
    page = web.get("/me/reports").text
    assert "诈骗、欺诈或赌博" in page
    assert "审核中" in page
    r = web.post(f"/messages/{mid}/report", {"reason": "fraud", "good_faith": "1"})
    assert r.status_code == 422  # already_reported
    # The founder and admins see the report about their group, not who filed it.
    page = web.as_(cast.admin).get(f"/groups/{cast.group['id']}/admin").text
    assert "诈骗、欺诈或赌博" in page
    assert cast.member.display_name not in page.split('id="reports"')[1]


def test_group_info_rules_and_acknowledging_new_ones(web: Web, api: Api, cast: Cast,
                                                     app: Any) -> None:
    gid = cast.group["id"]
    page = web.as_(cast.member).get(f"/groups/{gid}/info").text
    assert cast.group["code"] in page
    assert "工作" in page
    assert "群主乙" in page
    assert "管家丙" in page
    assert "你已确认本群规" in page
    r = web.as_(cast.founder).post(f"/groups/{gid}/rules", {"rules": "新群规：文明发言"})
    assert r.status_code == 303
    page = web.as_(cast.member).get(f"/groups/{gid}/info").text
    assert "你入群后群规有更新" in page
    assert "新群规：文明发言" in page
    r = web.post(f"/groups/{gid}/rules/acknowledge", {"rules_version": "1"})
    assert r.status_code == 422  # an older version than the one in force
    r = web.post(f"/groups/{gid}/rules/acknowledge", {"rules_version": "2"})
    assert r.status_code == 303
    record = audit_records(app, EventType.RULES_ACKNOWLEDGED)[-1]
    assert (record.acting_id, record.extra["rules_version"]) == (cast.member.id, 2)
    assert outbox_events(app, EventType.RULES_ACKNOWLEDGED)[-1].payload["target_group_id"] \
        == gid
    assert "你已确认本群规" in web.get(f"/groups/{gid}/info").text


def test_join_by_code_acknowledging_the_rules(web: Web, cast: Cast, app: Any) -> None:
    code = cast.group["code"]
    web.as_(cast.outsider)
    page = web.get(f"/join?code={code}").text
    assert "项目协调群" in page
    assert "文明交流" in page
    r = web.post("/join", {"code": code, "note": "我是新同事"})
    assert errors_of(r.text)["f-rules_version-error"] == "请阅读并确认群规。"
    assert "我是新同事</textarea>" in r.text
    r = web.post("/join", {"code": code, "rules_version": "1", "note": "我是新同事"})
    assert r.status_code == 200
    assert "申请已发送" in r.text
    assert audit_records(app, EventType.JOIN_REQUESTED)[-1].acting_id == cast.outsider.id
    assert web.get("/join?code=NOPE").status_code == 404
    # An admin approves it on the admin page.
    page = web.as_(cast.admin).get(f"/groups/{cast.group['id']}/admin").text
    found = re.search(r'action="/groups/\d+/join-requests/(\d+)"', page)
    assert found
    assert cast.outsider.display_name in page
    r = web.post(f"/groups/{cast.group['id']}/join-requests/{found.group(1)}",
                 {"decision": "approve"})
    assert r.status_code == 303
    assert audit_records(app, EventType.JOIN_APPROVED)[-1].acting_id == cast.admin.id
    assert web.as_(cast.outsider).get(f"/groups/{cast.group['id']}").status_code == 200


def test_admin_pages_mute_remove_and_refuse_plain_members(web: Web, cast: Cast,
                                                          app: Any) -> None:
    gid = cast.group["id"]
    assert web.as_(cast.member).get(f"/groups/{gid}/admin").status_code == 403
    web.as_(cast.admin)
    r = web.post(f"/groups/{gid}/members/{cast.member2.id}/mute", {"seconds": "12"})
    assert r.status_code == 422
    assert errors_of(r.text)["members-errors"] == "请选择时长。"
    r = web.post(f"/groups/{gid}/members/{cast.member2.id}/mute", {"seconds": "3600"})
    assert r.status_code == 303
    assert audit_records(app, EventType.MEMBER_MUTED)[-1].subject_id == str(cast.member2.id)
    assert "已禁言" in web.get(f"/groups/{gid}/admin").text
    r = web.post(f"/groups/{gid}/members/{cast.member2.id}/unmute")
    assert r.status_code == 303
    r = web.post(f"/groups/{gid}/members/{cast.founder.id}/remove")
    assert r.status_code == 422  # the founder cannot be removed by an admin
    r = web.post(f"/groups/{gid}/members/{cast.member2.id}/remove")
    assert r.status_code == 303
    assert audit_records(app, EventType.MEMBER_REMOVED)[-1].subject_id == str(cast.member2.id)
    r = web.post(f"/groups/{gid}/rules", {"rules": ""})
    assert errors_of(r.text)["f-rules-error"] == "请填写群规。"
