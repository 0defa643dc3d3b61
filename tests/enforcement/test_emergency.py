"""Emergency mode (CR-9): freeze posting in a group or a category, purge a fingerprint."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from qunguan.enforcement.models import CreditEvent
from qunguan.kernel.events import EventType
from qunguan.messaging import queries as messaging_queries
from qunguan.messaging.models import Message
from tests.conftest import (
    Api,
    Cast,
    audit_records,
    error_code,
    join_by_invitation,
    outbox_events,
)
from tests.enforcement.review_helpers import (
    claim,
    decide,
    drain,
    items,
    post,
    rows,
    sanctions_of,
    second_officer,
    statements_of,
)


def _group(api: Api, cast: Cast, name: str, category: str) -> dict[str, Any]:
    r = api.post("/api/groups", as_=cast.founder, json={"name": name, "category": category})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _send(api: Api, person: Any, gid: int, text: str) -> Any:
    return api.post(f"/api/groups/{gid}/messages", as_=person, json={"text": text})


def test_freeze_and_unfreeze_a_group(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    r = api.post("/api/officer/emergency/freeze", as_=cast.officer,
                 json={"group_id": gid, "reason": "突发事件，暂停发言", "duration_seconds": 7200})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["group_ids"] == [gid]
    [sanction] = sanctions_of(app, subject_type="group", subject_id=gid)
    assert body["sanction_ids"] == [sanction.id]
    assert (sanction.kind, sanction.rule) == ("suspend_posting", "emergency_freeze")
    [frozen] = audit_records(app, EventType.GROUPS_FROZEN)
    assert frozen.acting_id == cast.officer.id
    assert frozen.extra["group_ids"] == [gid]
    assert frozen.extra["reason"] == "突发事件，暂停发言"
    assert outbox_events(app, EventType.GROUPS_FROZEN)[0].payload["group_ids"] == [gid]
    # The one restriction checker enforces it, for everyone in the group.
    for person in (cast.member, cast.founder):
        r = _send(api, person, gid, "还能发吗")
        assert r.status_code == 403, r.text
        assert error_code(r) == "group_suspended"
        assert r.json()["error"]["details"]["sanction_id"] == sanction.id
    # The founder is told why, and a freeze costs the group no credit.
    assert [s.measure for s in statements_of(app, cast.founder.id)] == ["suspend_posting"]
    assert all(e.reversed_at is not None for e in rows(app, CreditEvent, subject_type="group"))
    # Freezing again changes nothing.
    r = api.post("/api/officer/emergency/freeze", as_=cast.officer,
                 json={"group_id": gid, "reason": "再次"})
    assert r.json() == {"group_ids": [], "sanction_ids": [], "already_frozen": [gid]}
    assert len(sanctions_of(app, subject_type="group", subject_id=gid)) == 1

    r = api.post("/api/officer/emergency/unfreeze", as_=cast.officer,
                 json={"group_id": gid, "reason": "事态平息"})
    assert r.status_code == 200, r.text
    assert r.json()["sanction_ids"] == [sanction.id]
    assert _send(api, cast.member, gid, "恢复了").status_code == 201
    [unfrozen] = audit_records(app, EventType.GROUPS_UNFROZEN)
    assert unfrozen.extra["group_ids"] == [gid]
    assert len(audit_records(app, EventType.SANCTION_LIFTED)) == 1
    r = api.post("/api/officer/emergency/unfreeze", as_=cast.officer,
                 json={"group_id": gid, "reason": "again"})
    assert (r.status_code, error_code(r)) == (409, "not_frozen")


def test_a_freeze_ends_by_itself(api: Api, cast: Cast, app: Any, clock: Any) -> None:
    gid = cast.group["id"]
    r = api.post("/api/officer/emergency/freeze", as_=cast.officer,
                 json={"group_id": gid, "reason": "临时", "duration_seconds": 3600})
    assert r.status_code == 200, r.text
    assert _send(api, cast.member, gid, "x").status_code == 403
    clock.advance(seconds=3601)
    assert _send(api, cast.member, gid, "过了一小时").status_code == 201
    r = api.post("/api/officer/emergency/unfreeze", as_=cast.officer,
                 json={"group_id": gid, "reason": "late"})
    assert (r.status_code, error_code(r)) == (409, "not_frozen")


def test_freeze_a_category(api: Api, cast: Cast, app: Any) -> None:
    work2 = _group(api, cast, "二号工作群", "work")
    social = _group(api, cast, "兴趣群", "social")
    r = api.post("/api/officer/emergency/freeze", as_=cast.officer,
                 json={"category": "work", "reason": "应急"})
    assert r.status_code == 200, r.text
    assert r.json()["group_ids"] == [cast.group["id"], work2["id"]]
    assert _send(api, cast.founder, work2["id"], "x").status_code == 403
    assert _send(api, cast.founder, social["id"], "兴趣群照常").status_code == 201
    [frozen] = audit_records(app, EventType.GROUPS_FROZEN)
    assert (frozen.subject_type, frozen.subject_id) == ("category", "work")
    r = api.post("/api/officer/emergency/unfreeze", as_=cast.officer,
                 json={"category": "work", "reason": "解除"})
    assert sorted(r.json()["group_ids"]) == [cast.group["id"], work2["id"]]
    assert _send(api, cast.founder, work2["id"], "恢复").status_code == 201


def test_freeze_needs_one_target(api: Api, cast: Cast, app: Any) -> None:
    for body in ({"reason": "x"}, {"group_id": cast.group["id"], "category": "work",
                                   "reason": "x"}):
        r = api.post("/api/officer/emergency/freeze", as_=cast.officer, json=body)
        assert (r.status_code, error_code(r)) == (422, "invalid_request")
    r = api.post("/api/officer/emergency/freeze", as_=cast.officer,
                 json={"group_id": 10**9, "reason": "x"})
    assert (r.status_code, error_code(r)) == (404, "not_found")
    r = api.post("/api/officer/emergency/freeze", as_=cast.officer,
                 json={"group_id": cast.group["id"], "reason": "  "})
    assert (r.status_code, error_code(r)) == (422, "invalid_request")
    r = api.post("/api/officer/emergency/freeze", as_=cast.founder,
                 json={"group_id": cast.group["id"], "reason": "x"})
    assert (r.status_code, error_code(r)) == (403, "forbidden")
    assert audit_records(app, EventType.GROUPS_FROZEN) == []


def test_purge_every_copy_of_a_fingerprint(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    other = _group(api, cast, "转发目标群", "work")
    join_by_invitation(api, other, cast.founder, cast.member)
    original = post(api, cast.member2, gid, "紧急通知：某地发生重大事故，速转！")
    r = api.post(f"/api/messages/{original['id']}/forward", as_=cast.member,
                 json={"group_ids": [other["id"]], "confirm": True})
    assert r.status_code == 201, r.text
    copy_id = r.json()[0]["id"]
    unrelated = post(api, cast.member, gid, "今天天气不错")

    r = api.post("/api/officer/emergency/purge", as_=cast.officer,
                 json={"message_id": copy_id, "reason": "不实信息，全网删除"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message_ids"] == [original["id"], copy_id]
    assert (body["copies"], body["groups"]) == (2, 2)
    assert body["group_ids"] == sorted([gid, other["id"]])
    for mid in (original["id"], copy_id):
        seen = api.get(f"/api/messages/{mid}", as_=cast.member).json()
        assert seen["text"] is None
    assert api.get(f"/api/messages/{unrelated['id']}", as_=cast.member).json()["text"]
    removed = audit_records(app, EventType.MESSAGE_REMOVED)
    assert sorted(int(x.subject_id or 0) for x in removed) == [original["id"], copy_id]
    [purged] = audit_records(app, EventType.FINGERPRINT_PURGED)
    assert purged.subject_id == original["fingerprint"]
    assert purged.extra["copies"] == 2
    assert [s.measure for s in statements_of(app, cast.member2.id)] == ["message_removed"]
    assert [s.measure for s in statements_of(app, cast.member.id)] == ["message_removed"]
    r = api.post("/api/officer/emergency/purge", as_=cast.officer,
                 json={"fingerprint": original["fingerprint"], "reason": "again"})
    assert (r.status_code, error_code(r)) == (409, "nothing_to_purge")
    r = api.post("/api/officer/emergency/purge", as_=cast.officer,
                 json={"message_id": 10**9, "reason": "x"})
    assert (r.status_code, error_code(r)) == (404, "not_found")
    r = api.post("/api/officer/emergency/purge", as_=cast.officer,
                 json={"reason": "x"})
    assert (r.status_code, error_code(r)) == (422, "invalid_request")


def test_purge_skips_a_copy_recalled_meanwhile(api: Api, cast: Cast, app: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The list of copies is read before each is locked: a sender's recall committed in
    between must not make the whole purge fail."""
    gid = cast.group["id"]
    first = post(api, cast.member2, gid, "紧急通知：速转！")
    second = post(api, cast.member, gid, "紧急通知：速转！")
    assert api.post(f"/api/messages/{second['id']}/recall", as_=cast.member).status_code == 200

    def stale(uow: Any, digest: str) -> list[Message]:  # as read before the recall committed
        return list(uow.session.scalars(select(Message).where(
            Message.fingerprint == digest).order_by(Message.id)))

    monkeypatch.setattr(messaging_queries, "live_copies", stale)
    r = api.post("/api/officer/emergency/purge", as_=cast.officer,
                 json={"message_id": first["id"], "reason": "不实信息"})
    assert r.status_code == 200, r.text
    assert r.json()["message_ids"] == [first["id"]]
    assert [int(x.subject_id or 0) for x in audit_records(app, EventType.MESSAGE_REMOVED)] == [
        first["id"]]
    assert statements_of(app, cast.member.id) == []  # nothing of theirs was removed
    [purged] = audit_records(app, EventType.FINGERPRINT_PURGED)
    assert purged.extra["copies"] == 1
    # Every copy gone already: nothing to purge, and nothing written.
    r = api.post("/api/officer/emergency/purge", as_=cast.officer,
                 json={"message_id": first["id"], "reason": "again"})
    assert (r.status_code, error_code(r)) == (409, "nothing_to_purge")
    assert len(audit_records(app, EventType.FINGERPRINT_PURGED)) == 1


def test_overturning_a_purge_of_a_held_copy_keeps_it_held(api: Api, cast: Cast, app: Any,
                                                          hold_on: Any) -> None:
    """A held copy purged while its review is pending, then the purge overturned on appeal:
    the copy is held again, not delivered, and its review item is still the one to decide."""
    hold_on("待审")
    gid = cast.group["id"]
    held = post(api, cast.member, gid, "待审：某地发生事故")
    drain(app)
    [item] = items(app)
    r = api.post("/api/officer/emergency/purge", as_=cast.officer,
                 json={"message_id": held["id"], "reason": "不实信息，全网删除"})
    assert r.status_code == 200, r.text
    [removal] = [s for s in statements_of(app, cast.member.id) if s.measure == "message_removed"]
    assert removal.decided_by == cast.officer.id
    r = api.post(f"/api/me/statements/{removal.id}/appeal", as_=cast.member,
                 json={"text": "这是真实情况"})
    assert r.status_code == 201, r.text
    reviewer = second_officer(app, cast)
    r = api.post(f"/api/officer/appeals/{r.json()['id']}/decide", as_=reviewer,
                 json={"outcome": "overturned", "reason": "不属于同一谣言"})
    assert r.status_code == 200, r.text
    # Still held: the group cannot see it, the sender sees its text again.
    assert api.get(f"/api/messages/{held['id']}", as_=cast.member2).status_code == 404
    mine = api.get(f"/api/messages/{held['id']}", as_=cast.member).json()
    assert (mine["status"], mine["text"]) == ("held", "待审：某地发生事故")
    [restored] = audit_records(app, EventType.MESSAGE_RESTORED)
    assert restored.extra["status"] == "held"
    [event] = outbox_events(app, EventType.MESSAGE_RESTORED)
    assert (event.group_id, event.payload["account_ids"]) == (None, [cast.member.id])
    drain(app)
    [still] = items(app)  # the same open item, nothing new
    assert (still.id, still.status) == (item.id, "open")
    assert [s.measure for s in statements_of(app, cast.member.id)] == [
        "message_held", "message_removed"]
    # Its review decides it as before: dismissing it delivers it.
    claim(api, cast.officer, item.id)
    decide(api, cast.officer, item.id, "dismiss", reason="内容属实")
    seen = api.get(f"/api/messages/{held['id']}", as_=cast.member2).json()
    assert (seen["status"], seen["text"]) == ("delivered", "待审：某地发生事故")


def test_overturning_a_purge_after_its_hold_was_decided_queues_it_again(
        api: Api, cast: Cast, app: Any, hold_on: Any) -> None:
    """The hold's item was decided while the copy was purged (nothing left to deliver);
    restored, the copy is held and gets a new item and a new statement, not delivered."""
    hold_on("待审")
    held = post(api, cast.member, cast.group["id"], "待审：某地发生事故")
    drain(app)
    [item] = items(app)
    r = api.post("/api/officer/emergency/purge", as_=cast.officer,
                 json={"message_id": held["id"], "reason": "不实信息"})
    assert r.status_code == 200, r.text
    claim(api, cast.officer, item.id)
    decide(api, cast.officer, item.id, "dismiss", reason="已被删除")
    [removal] = [s for s in statements_of(app, cast.member.id) if s.measure == "message_removed"]
    appeal = api.post(f"/api/me/statements/{removal.id}/appeal", as_=cast.member,
                      json={"text": "误删"}).json()
    r = api.post(f"/api/officer/appeals/{appeal['id']}/decide", as_=second_officer(app, cast),
                 json={"outcome": "overturned", "reason": "误删"})
    assert r.status_code == 200, r.text
    drain(app)
    assert api.get(f"/api/messages/{held['id']}", as_=cast.member2).status_code == 404
    [old, new] = items(app)
    assert (old.id, old.status) == (item.id, "decided")
    assert (new.status, new.source, new.subject_id) == ("open", "held", held["id"])
    assert [s.measure for s in statements_of(app, cast.member.id)] == [
        "message_held", "message_removed", "message_held"]


def test_a_group_founded_in_a_frozen_category_inherits_the_freeze(api: Api, cast: Cast,
                                                                   app: Any,
                                                                   clock: Any) -> None:
    r = api.post("/api/officer/emergency/freeze", as_=cast.officer,
                 json={"category": "work", "reason": "应急", "duration_seconds": 7200})
    assert r.status_code == 200, r.text
    clock.advance(seconds=600)
    late = _group(api, cast, "冻结后新建的群", "work")
    social = _group(api, cast, "兴趣群", "social")
    drain(app)
    r = _send(api, cast.founder, late["id"], "新群能发吗")
    assert (r.status_code, error_code(r)) == (403, "group_suspended")
    [inherited] = sanctions_of(app, subject_type="group", subject_id=late["id"])
    assert (inherited.rule, inherited.imposed_by) == ("emergency_freeze", cast.officer.id)
    assert inherited.ends_at is not None
    assert int((inherited.ends_at - clock.now()).total_seconds()) == 6600  # the same end
    assert sanctions_of(app, subject_type="group", subject_id=social["id"]) == []
    assert _send(api, cast.founder, social["id"], "兴趣群照常").status_code == 201
    record = audit_records(app, EventType.GROUPS_FROZEN)[-1]
    assert (record.extra["inherited"], record.extra["group_ids"]) == (True, [late["id"]])
    assert record.acting_id == cast.officer.id
    # Unfreezing the category lifts it with the others.
    r = api.post("/api/officer/emergency/unfreeze", as_=cast.officer,
                 json={"category": "work", "reason": "解除"})
    assert late["id"] in r.json()["group_ids"]
    assert _send(api, cast.founder, late["id"], "恢复").status_code == 201
    # After the unfreeze, or after a freeze's end, a new group starts free.
    after = _group(api, cast, "解冻后新建的群", "work")
    drain(app)
    assert sanctions_of(app, subject_type="group", subject_id=after["id"]) == []
    api.post("/api/officer/emergency/freeze", as_=cast.officer,
             json={"category": "work", "reason": "再次", "duration_seconds": 3600})
    clock.advance(seconds=3601)
    expired = _group(api, cast, "过期后新建的群", "work")
    drain(app)
    assert sanctions_of(app, subject_type="group", subject_id=expired["id"]) == []
