"""Group admin pages beyond joins and mutes: deleting a member's message (members see who did
it), changing a member's role, handing the founder role over."""

from __future__ import annotations

from typing import Any

from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, outbox_events
from tests.web.conftest import Web, errors_of


def post(api: Api, cast: Cast, who: str, text: str) -> int:
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast[who],
                 json={"text": text, "confirm": True})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_an_admin_deletes_a_member_s_message_and_members_see_who(web: Web, api: Api,
                                                                 cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    mid = post(api, cast, "member", "二手手机低价转让")
    founders = post(api, cast, "founder", "明天开会")
    # A plain member is offered no delete link and is refused the page and the form.
    web.as_(cast.member2)
    assert f'href="/messages/{mid}/delete"' not in web.get(f"/groups/{gid}").text
    assert web.get(f"/messages/{mid}/delete").status_code == 403
    assert web.post(f"/messages/{mid}/delete", {"reason": "x"}).status_code == 403
    assert audit_records(app, EventType.MESSAGE_DELETED) == []
    web.as_(cast.admin)
    chat = web.get(f"/groups/{gid}").text
    assert f'href="/messages/{mid}/delete"' in chat
    assert f'href="/messages/{founders}/delete"' not in chat  # the founder outranks an admin
    form = web.get(f"/messages/{mid}/delete").text
    assert "二手手机低价转让" in form
    assert 'for="f-reason"' in form
    r = web.post(f"/messages/{founders}/delete", {"reason": "试试"})
    assert r.status_code == 422
    assert errors_of(r.text)["form-errors"] == "你只能删除角色低于你的成员的消息。"
    r = web.post(f"/messages/{mid}/delete", {"reason": "x" * 501})
    assert errors_of(r.text)["f-reason-error"] == "内容太长。"
    r = web.post(f"/messages/{mid}/delete", {"reason": "群内禁止买卖"})
    assert (r.status_code, r.headers["location"]) == (303, f"/groups/{gid}#m-{mid}")
    record = audit_records(app, EventType.MESSAGE_DELETED)[-1]
    assert (record.acting_id, record.subject_id, record.extra["reason"]) == (
        cast.admin.id, str(mid), "群内禁止买卖")
    assert outbox_events(app, EventType.MESSAGE_DELETED)[-1].payload["message_id"] == mid
    page = web.as_(cast.member2).get(f"/groups/{gid}").text
    assert "该消息已被群管理员 管家丙 删除。" in page
    assert "二手手机低价转让" not in page
    assert "群内禁止买卖" not in page  # the reason is for the record, not the group
    fragment = web.get(f"/groups/{gid}/messages/{mid}").text
    assert "该消息已被群管理员 管家丙 删除。" in fragment
    r = web.as_(cast.admin).post(f"/messages/{mid}/delete", {})
    assert errors_of(r.text)["form-errors"] == "消息已撤回。"
    r = web.as_(cast.outsider).get(f"/messages/{mid}/delete")
    assert r.status_code == 404


def test_the_founder_changes_roles_and_hands_the_group_over(web: Web, cast: Cast,
                                                            app: Any) -> None:
    gid = cast.group["id"]
    # An admin may neither change roles nor hand the group over.
    web.as_(cast.admin)
    page = web.get(f"/groups/{gid}/admin").text
    assert f"/members/{cast.member.id}/role" not in page
    assert 'id="transfer"' not in page
    r = web.post(f"/groups/{gid}/members/{cast.member.id}/role", {"role": "admin"})
    assert r.status_code == 422
    assert errors_of(r.text)["members-errors"] == "你无权进行此操作。"
    r = web.post(f"/groups/{gid}/transfer", {"account_id": str(cast.admin.id), "confirm": "1"})
    assert r.status_code == 403
    assert audit_records(app, EventType.ROLE_CHANGED)[-1].acting_id == cast.founder.id
    web.as_(cast.founder)
    page = web.get(f"/groups/{gid}/admin").text
    assert f'action="/groups/{gid}/members/{cast.member.id}/role"' in page
    assert cast.newcomer.display_name not in page.split('id="transfer"')[1].split("</section>")[0]
    r = web.post(f"/groups/{gid}/members/{cast.member.id}/role", {"role": "founder"})
    assert errors_of(r.text)["members-errors"] == "请选择角色。"
    before = len(audit_records(app, EventType.ROLE_CHANGED))
    r = web.post(f"/groups/{gid}/members/{cast.member.id}/role", {"role": "admin"})
    assert r.status_code == 303
    changed = audit_records(app, EventType.ROLE_CHANGED)
    assert len(changed) == before + 1
    assert (changed[-1].acting_id, changed[-1].subject_id, changed[-1].extra["new"]) == (
        cast.founder.id, str(cast.member.id), "admin")
    assert "管理员" in web.as_(cast.member2).get(f"/groups/{gid}/info").text.split(
        cast.member.display_name)[1][:80]
    web.as_(cast.founder)
    # The hand-over: a choice and a confirmation, each refused beside its field.
    r = web.post(f"/groups/{gid}/transfer", {})
    errors = errors_of(r.text)
    assert errors["f-heir-account_id-error"] == "请选择接任的成员。"
    assert errors["f-confirm-error"] == "请确认转让本群。"
    r = web.post(f"/groups/{gid}/transfer", {"account_id": str(cast.newcomer.id),
                                             "confirm": "1"})
    assert errors_of(r.text)["f-heir-account_id-error"] == "该成员尚未实名认证，群主必须实名认证。"
    r = web.post(f"/groups/{gid}/transfer", {"account_id": str(cast.outsider.id),
                                             "confirm": "1"})
    assert errors_of(r.text)["f-heir-account_id-error"] == "该账号不是本群成员。"
    assert audit_records(app, EventType.FOUNDER_TRANSFERRED) == []
    r = web.post(f"/groups/{gid}/transfer", {"account_id": str(cast.admin.id), "confirm": "1"})
    assert (r.status_code, r.headers["location"]) == (303, f"/groups/{gid}/info")
    record = audit_records(app, EventType.FOUNDER_TRANSFERRED)[-1]
    assert (record.acting_id, record.subject_id) == (cast.founder.id, str(cast.admin.id))
    info = web.get(f"/groups/{gid}/info").text
    assert f'action="/groups/{gid}/leave"' in info  # an admin now, free to leave
    assert 'id="transfer"' in web.as_(cast.admin).get(f"/groups/{gid}/admin").text
