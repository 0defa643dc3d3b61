"""The console's group pages: every group, and one group's category, founder and admins, size,
open review items and reports, elections, admin actions (who did what) and its alerts link;
linked from the case page, the alerts list and the elections list; officers only."""

from __future__ import annotations

from typing import Any

import pytest

from qunguan.auditlog import queries as audit_queries
from qunguan.enforcement import reports as enforcement_reports
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records
from tests.enforcement.review_helpers import drain, items, post, report
from tests.web.conftest import Web, errors_of
from tests.web.test_officer_elections import FORM


def test_officers_only(web: Web, cast: Cast) -> None:
    gid = cast.group["id"]
    for path in ("/officer/groups", f"/officer/groups/{gid}"):
        for person in (cast.founder, cast.member):
            assert web.as_(person).get(path).status_code == 403, path
        assert web.as_(cast.officer).get(path).status_code == 200, path
    assert web.get(f"/officer/groups/{gid + 100}").status_code == 404


def test_a_group_s_page_gathers_what_an_officer_needs(web: Web, api: Api, cast: Cast,
                                                      app: Any) -> None:
    gid = cast.group["id"]
    message = post(api, cast.member, gid, "加我微信领补贴")
    report(api, cast.member2, "message", message["id"], reason="fraud")
    drain(app)
    r = api.post(f"/api/messages/{message['id']}/delete", as_=cast.admin,
                 json={"reason": "广告"})
    assert r.status_code == 200, r.text
    web.as_(cast.officer)
    assert web.post("/officer/elections", {**FORM, "group_id": str(gid)}).status_code == 303
    listing = web.get("/officer/groups").text
    assert f'href="/officer/groups/{gid}"' in listing
    assert cast.group["code"] in listing
    page = web.get(f"/officer/groups/{gid}").text
    assert "项目协调群" in page
    assert "工作" in page  # the category, in the officer's language
    assert "5 / " in page  # members
    managers = page.split("群主和管理员")[1].split("</dd>")[0]
    assert cast.founder.display_name in managers
    assert cast.admin.display_name in managers
    assert cast.member.display_name not in managers
    (item,) = [i for i in items(app) if i.group_id == gid]
    assert f'href="/officer/review/{item.id}"' in page.split('id="items"')[1]
    assert "诈骗、欺诈或赌博" in page.split('id="reports"')[1]
    # Reporters are not shown.
    assert cast.member2.display_name not in page.split('id="reports"')[1].split("</section>")[0]
    assert FORM["name"] in page.split('id="elections"')[1]
    actions = page.split('id="admin-actions"')[1]
    assert f"{cast.admin.display_name}</strong> 删除了消息，作者： {cast.member.display_name}" \
        in actions
    assert "理由: 广告" in actions
    assert f"{cast.founder.display_name}</strong> 更改了角色： {cast.admin.display_name} (管理员)" \
        in actions
    assert f'href="/officer/alerts?group_id={gid}"' in page
    # Linked from the case page, the alerts list and the elections list; the queue filters.
    assert f'href="/officer/groups/{gid}"' in web.get(f"/officer/review/{item.id}").text
    assert f'href="/officer/groups/{gid}"' in web.get(f"/officer/alerts?group_id={gid}").text
    assert f'href="/officer/groups/{gid}"' in web.get("/officer/elections").text
    queue = web.get(f"/officer/review?group_id={gid}").text
    assert f'href="/officer/review/{item.id}"' in queue
    assert f'href="/officer/review/{item.id}"' not in web.get(
        f"/officer/review?group_id={gid + 100}").text


def test_group_reports_for_officers_and_managers_only(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    message = post(api, cast.member, gid, "可疑链接")
    report(api, cast.member2, "message", message["id"])
    uow = app.state.uows()
    try:
        for who in ("officer", "admin"):
            viewer = identity_queries.get_account(uow, cast[who].id)
            assert len(enforcement_reports.group_reports(uow, viewer=viewer, group_id=gid)) == 1
        member = identity_queries.get_account(uow, cast.member.id)
        with pytest.raises(QunguanError) as info:
            enforcement_reports.group_reports(uow, viewer=member, group_id=gid)
        assert info.value.code == "forbidden"
        officer = identity_queries.get_account(uow, cast.officer.id)
        with pytest.raises(QunguanError) as info:
            enforcement_reports.group_reports(uow, viewer=officer, group_id=gid + 100)
        assert info.value.code == "not_found"
        # The audit records of several types at once, newest first.
        records, _ = audit_queries.list_records(
            uow, viewer=officer, group_id=gid,
            event_types=[EventType.ROLE_CHANGED, EventType.MEMBER_INVITED])
        assert {r.event_type for r in records} == {int(EventType.ROLE_CHANGED),
                                                   int(EventType.MEMBER_INVITED)}
        assert [r.id for r in records] == sorted((r.id for r in records), reverse=True)
        assert len(records) == 5  # four invitations and the admin's promotion
    finally:
        uow.close()


def test_an_officer_sets_and_clears_a_group_s_envelope_limit(web: Web, cast: Cast,
                                                            app: Any) -> None:
    gid = cast.group["id"]
    web.as_(cast.officer)
    page = web.get(f"/officer/groups/{gid}").text
    limits = page.split('id="limits"')[1].split("</section>")[0]
    assert "200.00" in limits
    assert "所有群的默认限额" in limits
    assert f'action="/officer/groups/{gid}/envelope-limit/clear#limits"' not in limits
    # Errors next to their fields, in the officer's language; nothing recorded.
    r = web.post(f"/officer/groups/{gid}/envelope-limit", {"max_yuan": "abc", "reason": ""})
    assert r.status_code == 422
    errors = errors_of(r.text)
    assert errors["f-max_yuan-error"] == "请输入以元为单位的金额，例如 50 或 8.88。"
    assert errors["f-reason-error"] == "请说明本群为何需要单独的限额。"
    r = web.post(f"/officer/groups/{gid}/envelope-limit", {"max_yuan": "300",
                                                          "reason": "村民反映"})
    assert r.status_code == 422
    assert errors_of(r.text)["f-max_yuan-error"] == "本群的限额只能更严：此处最多 200.00 元。"
    assert 'value="300"' in r.text  # what was typed stays
    assert audit_records(app, EventType.ENVELOPE_LIMIT_SET) == []
    r = web.post(f"/officer/groups/{gid}/envelope-limit", {"max_yuan": "50",
                                                          "reason": "村民反映红包过大"})
    assert r.status_code == 303
    assert r.headers["location"] == f"/officer/groups/{gid}?limit=set#limits"
    [record] = audit_records(app, EventType.ENVELOPE_LIMIT_SET)
    assert record.extra["max_fen"] == 5000
    assert record.acting_id == cast.officer.id
    page = web.get(f"/officer/groups/{gid}?limit=set").text
    limits = page.split('id="limits"')[1].split("</section>")[0]
    assert "已设置本群自己的限额。" in limits
    assert "<strong>50.00</strong>" in limits
    assert "本群自己的限额" in limits
    assert "村民反映红包过大" in limits
    assert cast.officer.display_name in limits
    # Clearing needs a reason too.
    clear = f"/officer/groups/{gid}/envelope-limit/clear"
    r = web.post(clear, {"reason": " "})
    assert r.status_code == 422
    assert errors_of(r.text)["f-clear-reason-error"] == "请说明为何可以取消本群自己的限额。"
    assert web.post(clear, {"reason": "已整改"}).status_code == 303
    assert audit_records(app, EventType.ENVELOPE_LIMIT_CLEARED)[0].extra["reason"] == "已整改"
    r = web.post(clear, {"reason": "再次"})
    assert r.status_code == 422
    assert errors_of(r.text)["limit-clear-errors"] == "本群没有自己的限额可以取消。"
    # English, and officers only.
    web.client.cookies.set("qunguan_lang", "en")
    assert "Red-envelope limits" in web.get(f"/officer/groups/{gid}").text
    web.client.cookies.set("qunguan_lang", "zh_CN")
    r = web.as_(cast.founder).post(f"/officer/groups/{gid}/envelope-limit",
                                   {"max_yuan": "10", "reason": "x"})
    assert r.status_code == 403
