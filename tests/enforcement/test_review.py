"""The review queue (CR-4): items from holds, post-send findings, reports and samples; exclusive
claims that time out; decisions with reasons and their effects."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from qunguan.enforcement.models import CreditEvent, ItemSource, Report, ReviewItem, Sanction
from qunguan.enforcement.review import is_sampled
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.messaging import actions as messaging_actions
from qunguan.messaging.models import Message
from tests.cast import resident_id
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.enforcement.review_helpers import (
    claim,
    decide,
    drain,
    items,
    post,
    report,
    rows,
    run_together,
    sanctions_of,
    second_officer,
    statements_of,
)


def _queue(api: Api, officer: Any, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/api/officer/review", as_=officer, params=params)
    assert r.status_code == 200, r.text
    return list(r.json())


def test_held_message_enters_the_queue_and_its_sender_gets_a_statement(
        api: Api, cast: Cast, app: Any, hold_on: Any) -> None:
    hold_on("待审")
    gid = cast.group["id"]
    held = post(api, cast.member, gid, "待审的通知")
    assert held["status"] == "held"
    assert items(app) == []  # the outbox has not run yet
    drain(app)
    [item] = items(app)
    assert item.source == ItemSource.HELD
    assert (item.subject_type, item.subject_id, item.group_id) == ("message", held["id"], gid)
    assert item.severity == 3
    assert item.automated is True
    assert item.rules[0]["rule"] == "test.hold"
    [opened] = audit_records(app, EventType.REVIEW_ITEM_OPENED)
    uow = app.state.uows()
    try:
        system_id = identity_queries.system_account(uow).id
    finally:
        uow.close()
    assert opened.acting_id == system_id  # automation acts as the system account
    [statement] = statements_of(app, cast.member.id)
    assert statement.measure == "message_held"
    assert statement.message_id == held["id"]
    assert statement.review_item_id == item.id
    assert statement.automated is True
    assert statement.rule == "test.hold"
    assert "待审的通知" not in statement.facts  # the text is not repeated
    # Processing the same events again opens nothing new.
    drain(app)
    assert len(items(app)) == 1


def test_queue_orders_by_severity_then_age(api: Api, cast: Cast, app: Any,
                                           clock: Any) -> None:
    gid = cast.group["id"]
    spam = post(api, cast.member2, gid, "广告一")
    report(api, cast.member, "message", spam["id"], reason="spam")  # severity 1
    clock.advance(minutes=1)
    leak = post(api, cast.member2, gid, "某人的住址")
    report(api, cast.member, "message", leak["id"], reason="personal_data")  # 4
    clock.advance(minutes=1)
    fraud = post(api, cast.member2, gid, "投资群")
    report(api, cast.member, "message", fraud["id"], reason="fraud")  # 3
    clock.advance(minutes=1)
    spam2 = post(api, cast.member2, gid, "广告二")
    report(api, cast.member, "message", spam2["id"], reason="spam")  # 1, newer
    queue = _queue(api, cast.officer)
    assert [i["subject_id"] for i in queue] == [leak["id"], fraud["id"], spam["id"], spam2["id"]]
    assert [i["severity"] for i in queue] == [4, 3, 1, 1]
    assert [i["subject_id"] for i in _queue(api, cast.officer, source="report", limit=1)] == \
        [leak["id"]]
    assert _queue(api, cast.officer, source="held") == []
    assert _queue(api, cast.officer, group_id=gid + 1000) == []
    r = api.get("/api/officer/review", as_=cast.member)
    assert r.status_code == 403
    assert error_code(r) == "forbidden"


def test_item_detail_shows_context_with_display_names_only(api: Api, cast: Cast,
                                                           app: Any) -> None:
    gid = cast.group["id"]
    before = [post(api, cast.admin, gid, f"前文{n}")["id"] for n in range(4)]
    subject = post(api, cast.member2, gid, "被举报的消息")
    after = [post(api, cast.member, gid, f"后文{n}")["id"] for n in range(4)]
    report(api, cast.member, "message", subject["id"], reason="harassment", note="辱骂")
    [item] = items(app)
    r = api.get(f"/api/officer/review/{item.id}", as_=cast.officer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["item"]["id"] == item.id
    assert body["message"]["id"] == subject["id"]
    assert body["message"]["sender"]["display_name"] == cast.member2.display_name
    assert [m["id"] for m in body["context"]] == [*before[1:], subject["id"], *after[:3]]
    [rep] = body["reports"]
    assert rep["reporter_display_name"] == cast.member.display_name
    assert rep["note"] == "辱骂"
    assert body["group"]["name"] == "项目协调群"
    assert "legal_name" not in r.text  # and the PII guard scans every response for the cast's
    r = api.get("/api/officer/review/999999", as_=cast.officer)
    assert (r.status_code, error_code(r)) == (404, "not_found")


def test_claims_are_exclusive_and_time_out(api: Api, cast: Cast, app: Any,
                                           clock: Any) -> None:
    other = second_officer(app, cast)
    message = post(api, cast.member2, cast.group["id"], "可疑消息")
    report(api, cast.member, "message", message["id"])
    [item] = items(app)
    first = claim(api, cast.officer, item.id)
    assert first["claimed_by"] == cast.officer.id
    r = api.post(f"/api/officer/review/{item.id}/claim", as_=other)
    assert (r.status_code, error_code(r)) == (409, "review_claimed_by_another")
    assert r.json()["error"]["details"]["claim_expires_at"]
    r = api.post(f"/api/officer/review/{item.id}/decide", as_=other,
                 json={"decision": "dismiss", "reason": "无"})
    assert (r.status_code, error_code(r)) == (409, "review_claimed_by_another")
    r = api.post(f"/api/officer/review/{item.id}/release", as_=other)
    assert (r.status_code, error_code(r)) == (409, "review_claimed_by_another")

    # Re-claiming one's own claim extends it.
    clock.advance(seconds=600)
    again = claim(api, cast.officer, item.id)
    assert again["claim_expires_at"] > first["claim_expires_at"]
    clock.advance(seconds=899)
    claim(api, other, item.id, status=409)
    clock.advance(seconds=2)  # 901 s after the last claim: expired
    taken = claim(api, other, item.id)
    assert taken["claimed_by"] == other.id
    # The first officer's claim is gone: deciding now needs a claim again.
    r = api.post(f"/api/officer/review/{item.id}/decide", as_=cast.officer,
                 json={"decision": "dismiss", "reason": "无"})
    assert (r.status_code, error_code(r)) == (409, "review_claimed_by_another")
    claims = audit_records(app, EventType.REVIEW_ITEM_CLAIMED)
    assert [c.acting_id for c in claims] == [cast.officer.id, cast.officer.id, other.id]
    assert claims[-1].extra["expired_claim_of"] == cast.officer.id
    assert len(outbox_events(app, EventType.REVIEW_ITEM_CLAIMED)) == 3


def test_release_hands_the_item_over(api: Api, cast: Cast, app: Any) -> None:
    other = second_officer(app, cast)
    message = post(api, cast.member2, cast.group["id"], "可疑消息")
    report(api, cast.member, "message", message["id"])
    [item] = items(app)
    r = api.post(f"/api/officer/review/{item.id}/release", as_=cast.officer)
    assert (r.status_code, error_code(r)) == (409, "review_claim_required")
    claim(api, cast.officer, item.id)
    r = api.post(f"/api/officer/review/{item.id}/release", as_=cast.officer)
    assert r.status_code == 200, r.text
    assert r.json()["claimed_by"] is None
    assert claim(api, other, item.id)["claimed_by"] == other.id
    assert audit_records(app, EventType.REVIEW_ITEM_CLAIMED)[1].extra == {"released": True}


def test_decisions_need_a_claim_and_a_reason_and_happen_once(api: Api, cast: Cast,
                                                             app: Any) -> None:
    message = post(api, cast.member2, cast.group["id"], "可疑消息")
    report(api, cast.member, "message", message["id"])
    [item] = items(app)
    r = api.post(f"/api/officer/review/{item.id}/decide", as_=cast.officer,
                 json={"decision": "remove", "reason": "违规"})
    assert (r.status_code, error_code(r)) == (409, "review_claim_required")
    claim(api, cast.officer, item.id)
    for reason in ("   ", "\u3000\n"):
        r = api.post(f"/api/officer/review/{item.id}/decide", as_=cast.officer,
                     json={"decision": "remove", "reason": reason})
        assert (r.status_code, error_code(r)) == (422, "decision_reason_required")
    r = api.post(f"/api/officer/review/{item.id}/decide", as_=cast.officer,
                 json={"decision": "sanction", "reason": "违规"})
    assert (r.status_code, error_code(r)) == (422, "decision_not_applicable")
    assert r.json()["error"]["details"]["problem"] == "sanction_missing"
    # Nothing was done by the refused attempts.
    assert api.get(f"/api/messages/{message['id']}", as_=cast.member).json()["text"]
    assert audit_records(app, EventType.MESSAGE_REMOVED) == []
    decide(api, cast.officer, item.id, "remove")
    r = api.post(f"/api/officer/review/{item.id}/decide", as_=cast.officer,
                 json={"decision": "dismiss", "reason": "改判"})
    assert (r.status_code, error_code(r)) == (409, "review_item_decided")
    r = api.post(f"/api/officer/review/{item.id}/claim", as_=cast.officer)
    assert (r.status_code, error_code(r)) == (409, "review_item_decided")


def test_dismissing_a_held_message_delivers_it(api: Api, cast: Cast, app: Any,
                                               hold_on: Any) -> None:
    hold_on("待审")
    gid = cast.group["id"]
    held = post(api, cast.member, gid, "待审：周五团建")
    r = api.get(f"/api/messages/{held['id']}", as_=cast.member2)
    assert r.status_code == 404  # others do not see a held message
    drain(app)
    [item] = items(app)
    claim(api, cast.officer, item.id)
    decided = decide(api, cast.officer, item.id, "dismiss", reason="正常通知")
    assert decided["status"] == "decided"
    assert decided["decision"] == "dismiss"
    assert decided["decided_by"] == cast.officer.id
    seen = api.get(f"/api/messages/{held['id']}", as_=cast.member2).json()
    assert seen["status"] == "delivered"
    assert seen["text"] == "待审：周五团建"
    [released] = audit_records(app, EventType.MESSAGE_RELEASED)
    assert released.acting_id == cast.officer.id
    assert released.extra["reason"] == "正常通知"
    [event] = outbox_events(app, EventType.MESSAGE_RELEASED)
    assert event.group_id == gid
    assert event.payload["message"]["id"] == held["id"]
    [record] = audit_records(app, EventType.REVIEW_ITEM_DECIDED)
    assert record.extra["decision"] == "dismiss"
    assert record.extra["automated"] is True
    assert record.extra["message_id"] == held["id"]


def test_removing_a_message_explains_it_and_upholds_the_reports(api: Api, cast: Cast,
                                                                app: Any) -> None:
    gid = cast.group["id"]
    message = post(api, cast.member2, gid, "张三的家庭住址是某某小区")
    report(api, cast.member, "message", message["id"], reason="personal_data")
    [item] = items(app)
    claim(api, cast.officer, item.id)
    decide(api, cast.officer, item.id, "remove", reason="泄露他人住址")
    seen = api.get(f"/api/messages/{message['id']}", as_=cast.member).json()
    assert seen["text"] is None
    assert seen["recalled"] is True
    [removed] = audit_records(app, EventType.MESSAGE_REMOVED)
    assert removed.extra["text"] == "张三的家庭住址是某某小区"  # evidence kept in the record
    assert removed.extra["reason"] == "泄露他人住址"
    assert [e.group_id for e in outbox_events(app, EventType.MESSAGE_REMOVED)] == [gid]
    [statement] = statements_of(app, cast.member2.id)
    assert statement.measure == "message_removed"
    assert statement.message_id == message["id"]
    assert statement.review_item_id == item.id
    assert statement.automated is False
    assert "泄露他人住址" in statement.facts
    assert statement.rule == "report.personal_data"
    [upheld] = rows(app, CreditEvent, review_item_id=item.id)
    assert (upheld.subject_type, upheld.subject_id) == ("account", cast.member2.id)
    assert upheld.delta < 0


def test_sanction_decision_removes_and_sanctions(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    message = post(api, cast.member2, gid, "转发这个抽奖链接")
    report(api, cast.member, "message", message["id"], reason="spam")
    [item] = items(app)
    claim(api, cast.officer, item.id)
    decide(api, cast.officer, item.id, "sanction", reason="反复刷屏",
           sanction={"kind": "restrict", "duration_seconds": 86400,
                     "functions": ["forward"]})
    [sanction] = sanctions_of(app, review_item_id=item.id)
    assert (sanction.subject_type, sanction.subject_id) == ("account", cast.member2.id)
    assert sanction.kind == "restrict"
    assert sanction.functions == ["forward"]
    assert api.get(f"/api/messages/{message['id']}", as_=cast.member).json()["text"] is None
    [record] = audit_records(app, EventType.REVIEW_ITEM_DECIDED)
    assert record.extra["sanction_id"] == sanction.id
    # Enforced where it matters: the member cannot forward.
    other = post(api, cast.member, gid, "正常消息")
    r = api.post(f"/api/messages/{other['id']}/forward", as_=cast.member2,
                 json={"group_ids": [gid]})
    assert (r.status_code, error_code(r)) == (403, "restricted")
    assert r.json()["error"]["details"]["sanction_id"] == sanction.id


def test_sanctioning_the_group_of_a_report(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    report(api, cast.member, "group", gid, reason="spam")
    [item] = items(app)
    claim(api, cast.officer, item.id)
    r = api.post(f"/api/officer/review/{item.id}/decide", as_=cast.officer,
                 json={"decision": "remove", "reason": "x"})
    assert (r.status_code, error_code(r)) == (422, "decision_not_applicable")
    decide(api, cast.officer, item.id, "sanction", reason="群内长期刷屏",
           sanction={"kind": "group_warning"})
    [sanction] = sanctions_of(app, review_item_id=item.id)
    assert (sanction.subject_type, sanction.subject_id, sanction.kind) == (
        "group", gid, "group_warning")


def test_post_send_findings_open_items(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    message = post(api, cast.member2, gid, "普通消息")
    uow = app.state.uows()
    try:
        uow.emit(EventType.SCREENING_FLAGGED, message_id=message["id"], target_group_id=gid,
                 sender_id=cast.member2.id, severity=4,
                 reasons=[{"rule": "post.rule", "detector": "slow", "text_zh": "提示",
                           "text_en": "note"}])
        uow.commit()
    finally:
        uow.close()
    drain(app)
    [item] = items(app)
    assert (item.source, item.severity, item.automated) == (ItemSource.SCREENING, 4, True)
    assert item.rules[0]["rule"] == "post.rule"


def test_sampling_is_deterministic(api: Api, cast: Cast, app: Any, clock: Any) -> None:
    gid = cast.group["id"]

    def slowly(text: str) -> int:
        clock.advance(seconds=30)  # below the flood rule's rate
        return int(post(api, cast.member, gid, text)["id"])

    posted = [slowly(f"日常消息{n}") for n in range(12)]
    drain(app)
    assert items(app, source=ItemSource.SAMPLE) == []  # the default rate is 0
    app.state.uows.settings.review_sample_rate = 0.5
    later = [slowly(f"日常消息B{n}") for n in range(24)]
    drain(app)
    sampled = {i.subject_id for i in items(app, source=ItemSource.SAMPLE)}
    assert sampled == {m for m in later if is_sampled(m, 0.5)}
    assert 0 < len(sampled) < len(later)
    assert not sampled & set(posted)
    assert all(i.severity == 0 and not i.automated for i in items(app, source="sample"))
    assert is_sampled(7, 1.0)
    assert not is_sampled(7, 0.0)


def test_officer_removal_of_a_held_message_never_delivers_it(api: Api, cast: Cast, app: Any,
                                                             hold_on: Any) -> None:
    hold_on("待审")
    held = post(api, cast.member, cast.group["id"], "待审内容")
    drain(app)
    [item] = items(app)
    claim(api, cast.officer, item.id)
    decide(api, cast.officer, item.id, "remove", reason="违规")
    uow = app.state.uows()
    try:
        message = uow.session.get(Message, held["id"])
        assert message is not None
        assert (message.status, message.text) == ("held", None)
        item_row = uow.session.get(ReviewItem, item.id)
        assert item_row is not None
        assert item_row.decision == "remove"
        assert uow.session.query(Sanction).count() == 0
    finally:
        uow.close()
    # Only the sender learns of the removal of a message the group never saw.
    [event] = outbox_events(app, EventType.MESSAGE_REMOVED)
    assert event.group_id is None
    assert event.payload["account_ids"] == [cast.member.id]
    measures = [s.measure for s in statements_of(app, cast.member.id)]
    assert measures == ["message_held", "message_removed"]


def test_a_sanction_object_with_another_decision_is_refused(api: Api, cast: Cast,
                                                            app: Any) -> None:
    message = post(api, cast.member2, cast.group["id"], "可疑消息")
    report(api, cast.member, "message", message["id"])
    [item] = items(app)
    claim(api, cast.officer, item.id)
    for decision in ("dismiss", "remove"):
        r = api.post(f"/api/officer/review/{item.id}/decide", as_=cast.officer,
                     json={"decision": decision, "reason": "违规",
                           "sanction": {"kind": "suspend", "duration_seconds": 86400}})
        assert (r.status_code, error_code(r)) == (422, "decision_not_applicable")
        assert r.json()["error"]["details"]["problem"] == "sanction_not_expected"
    # Nothing happened: the message stands, no sanction, the item still open.
    assert api.get(f"/api/messages/{message['id']}", as_=cast.member).json()["text"]
    assert sanctions_of(app) == []
    assert audit_records(app, EventType.REVIEW_ITEM_DECIDED) == []
    assert items(app)[0].status == "open"


def test_a_decision_reason_may_not_carry_personal_data(api: Api, cast: Cast,
                                                       app: Any) -> None:
    message = post(api, cast.member2, cast.group["id"], "可疑消息")
    report(api, cast.member, "message", message["id"])
    [item] = items(app)
    claim(api, cast.officer, item.id)
    leaked = resident_id("110105", "19700101", "004")
    for decision in ("dismiss", "remove"):
        r = api.post(f"/api/officer/review/{item.id}/decide", as_=cast.officer,
                     json={"decision": decision, "reason": f"身份证 {leaked} 已核实"})
        assert (r.status_code, error_code(r)) == (422, "reason_has_personal_data")
    assert audit_records(app, EventType.REVIEW_ITEM_DECIDED) == []


def test_a_hold_recalled_before_the_outbox_runs_is_neither_queued_nor_explained(
        api: Api, cast: Cast, app: Any, hold_on: Any) -> None:
    hold_on("待审")
    held = post(api, cast.member, cast.group["id"], "待审：发错了")
    r = api.post(f"/api/messages/{held['id']}/recall", as_=cast.member)
    assert r.status_code == 200, r.text
    drain(app)
    assert items(app) == []
    assert statements_of(app, cast.member.id) == []
    assert audit_records(app, EventType.STATEMENT_ISSUED) == []


def test_forwarded_copies_are_sampled_too(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    source = post(api, cast.member2, gid, "日常通知")
    drain(app)
    app.state.uows.settings.review_sample_rate = 1.0
    r = api.post(f"/api/messages/{source['id']}/forward", as_=cast.member,
                 json={"group_ids": [gid]})
    assert r.status_code == 201, r.text
    copy_id = r.json()[0]["id"]
    assert [e.payload["message"]["id"]
            for e in outbox_events(app, EventType.MESSAGE_FORWARDED)] == [copy_id]
    drain(app)
    [item] = items(app, source=ItemSource.SAMPLE)
    assert (item.subject_type, item.subject_id, item.group_id) == ("message", copy_id, gid)


def test_an_admins_deletion_gets_a_statement_and_an_appeal(api: Api, cast: Cast,
                                                          app: Any) -> None:
    """Part 8: every removed message has a statement, a group admin's removal included; an
    officer decides the appeal, and overturning restores the message to the group."""
    gid = cast.group["id"]
    message = post(api, cast.member2, gid, "周末去爬山吗")
    own = post(api, cast.admin, gid, "管理员自己的消息")
    r = api.post(f"/api/messages/{message['id']}/delete", as_=cast.admin,
                 json={"reason": "与本群主题无关"})
    assert r.status_code == 200, r.text
    r = api.post(f"/api/messages/{own['id']}/delete", as_=cast.admin, json={"reason": "发错"})
    assert r.status_code == 200, r.text
    drain(app)
    assert statements_of(app, cast.admin.id) == []  # one's own message: nothing to explain
    [statement] = statements_of(app, cast.member2.id)
    assert statement.measure == "message_removed"
    assert (statement.message_id, statement.group_id) == (message["id"], gid)
    assert statement.decided_by == cast.admin.id
    assert statement.automated is False
    assert "与本群主题无关" in statement.facts
    assert cast.admin.display_name in statement.facts
    [issued] = audit_records(app, EventType.STATEMENT_ISSUED)
    assert issued.acting_id == cast.admin.id
    assert issued.extra["decided_by"] == cast.admin.id

    r = api.post(f"/api/me/statements/{statement.id}/appeal", as_=cast.member2,
                 json={"text": "这是群活动通知"})
    assert r.status_code == 201, r.text
    r = api.post(f"/api/officer/appeals/{r.json()['id']}/decide", as_=cast.officer,
                 json={"outcome": "overturned", "reason": "属于群活动，不应删除"})
    assert r.status_code == 200, r.text
    seen = api.get(f"/api/messages/{message['id']}", as_=cast.member).json()
    assert (seen["text"], seen["recalled"], seen["status"]) == ("周末去爬山吗", False,
                                                                "delivered")
    [restored] = audit_records(app, EventType.MESSAGE_RESTORED)
    assert restored.acting_id == cast.officer.id
    assert restored.extra["status"] == "delivered"
    [deleted] = [d for d in audit_records(app, EventType.MESSAGE_DELETED)
                 if d.subject_id == str(message["id"])]
    assert restored.extra["removal_record_id"] == deleted.id
    assert [e.group_id for e in outbox_events(app, EventType.MESSAGE_RESTORED)] == [gid]


def test_an_admins_reason_with_personal_data_is_not_copied(api: Api, cast: Cast,
                                                           app: Any) -> None:
    message = post(api, cast.member2, cast.group["id"], "周末去爬山吗")
    leaked = resident_id("110105", "19700101", "004")
    r = api.post(f"/api/messages/{message['id']}/delete", as_=cast.admin,
                 json={"reason": f"含身份证 {leaked}"})
    assert r.status_code == 200, r.text
    drain(app)
    [statement] = statements_of(app, cast.member2.id)
    assert leaked not in statement.facts
    assert "withheld" in statement.facts


def test_restoring_needs_an_officer_and_never_undoes_a_recall(api: Api, cast: Cast,
                                                              app: Any) -> None:
    gid = cast.group["id"]
    removed = post(api, cast.member2, gid, "被删除的消息")
    recalled = post(api, cast.member2, gid, "撤回的消息")
    assert api.post(f"/api/messages/{removed['id']}/delete", as_=cast.admin,
                    json={"reason": "x"}).status_code == 200
    assert api.post(f"/api/messages/{recalled['id']}/recall",
                    as_=cast.member2).status_code == 200
    uow = app.state.uows()
    try:
        admin = uow.session.get(Account, cast.admin.id)
        officer = uow.session.get(Account, cast.officer.id)
        assert admin is not None
        assert officer is not None
        with pytest.raises(QunguanError) as refused:
            messaging_actions.do_restore_message(uow, acting=admin, message_id=removed["id"],
                                                 reason="x")
        assert refused.value.code == "forbidden"
        with pytest.raises(QunguanError) as refused:
            messaging_actions.do_restore_message(uow, acting=officer,
                                                 message_id=recalled["id"], reason="x")
        assert refused.value.code == "conflict"
    finally:
        uow.close()


# --- one open item per subject, and claims, under concurrency --------------------------------


def test_the_database_refuses_a_second_open_item_for_a_subject(api: Api, cast: Cast,
                                                               app: Any) -> None:
    """The partial unique index behind open_item's join-or-open, on both backends."""
    message = post(api, cast.member2, cast.group["id"], "可疑消息")
    report(api, cast.member, "message", message["id"])
    [item] = items(app)
    uow = app.state.uows()
    try:
        uow.session.add(ReviewItem(source="screening", subject_type="message",
                                   subject_id=message["id"], group_id=item.group_id,
                                   severity=1, rules=[], automated=True, status="open",
                                   created_at=item.created_at))
        with pytest.raises(IntegrityError):
            uow.session.flush()
        uow.session.rollback()
        # A decided item does not count: the subject may get a new open one.
        uow.session.add(ReviewItem(source="screening", subject_type="message",
                                   subject_id=message["id"], group_id=item.group_id,
                                   severity=1, rules=[], automated=True, status="decided",
                                   created_at=item.created_at))
        uow.session.flush()
    finally:
        uow.close()


@pytest.mark.usefixtures("postgresql_only")
def test_concurrent_reports_and_findings_share_one_item(api: Api, cast: Cast,
                                                        app: Any) -> None:
    """Four reports of one message at once, and a post-send finding in the outbox beside
    them: one open item, every report on it, one REVIEW_ITEM_OPENED."""
    gid = cast.group["id"]
    message = post(api, cast.member2, gid, "刷屏广告")
    uow = app.state.uows()
    try:
        uow.emit(EventType.SCREENING_FLAGGED, message_id=message["id"], target_group_id=gid,
                 sender_id=cast.member2.id, severity=2,
                 reasons=[{"rule": "post.rule", "detector": "slow"}])
        uow.commit()
    finally:
        uow.close()
    reporters = [cast.member, cast.admin, cast.founder, cast.newcomer]

    def act(who: Any) -> Any:
        if who is None:
            return drain(app)
        return api.post("/api/reports", as_=who, json={
            "subject_type": "message", "subject_id": message["id"], "reason": "spam"})

    results = run_together(5, act, [*reporters, None])
    assert [r.status_code for r in results if r is not None] == [201] * 4, [
        r.text for r in results if r is not None]
    [item] = items(app)
    assert item.status == "open"
    assert {r.review_item_id for r in rows(app, Report)} == {item.id}
    assert len(audit_records(app, EventType.REVIEW_ITEM_OPENED)) == 1
    assert sorted(r["rule"] for r in item.rules) == ["post.rule", *["report.spam"] * 4]


@pytest.mark.usefixtures("postgresql_only")
def test_a_report_racing_a_decision_always_gets_an_outcome(api: Api, cast: Cast,
                                                           app: Any) -> None:
    """AT-3: a report filed while an officer decides the item either joins before the
    decision (and is decided with it) or opens a new item; it never joins a decided one."""
    gid = cast.group["id"]
    for n in range(3):
        message = post(api, cast.member2, gid, f"可疑消息{n}")
        report(api, cast.member, "message", message["id"])
        [item] = items(app, subject_id=message["id"])
        claim(api, cast.officer, item.id)

        def act(which: str, item_id: int = item.id, message_id: int = message["id"]) -> Any:
            if which == "decide":
                return api.post(f"/api/officer/review/{item_id}/decide", as_=cast.officer,
                                json={"decision": "dismiss", "reason": "无违规"})
            return api.post("/api/reports", as_=cast.admin, json={
                "subject_type": "message", "subject_id": message_id, "reason": "rumor"})

        results = run_together(2, act, ["decide", "report"])
        assert sorted(r.status_code for r in results) == [200, 201], [r.text for r in results]
        by_id = {i.id: i for i in items(app, subject_id=message["id"])}
        for filed in rows(app, Report, subject_id=message["id"]):
            assert filed.review_item_id is not None
            joined = by_id[filed.review_item_id]
            assert (filed.status == "decided") == (joined.status == "decided"), (
                filed.status, joined.status)
        assert len([i for i in by_id.values() if i.status == "open"]) <= 1


@pytest.mark.usefixtures("postgresql_only")
def test_two_officers_claiming_at_once(api: Api, cast: Cast, app: Any) -> None:
    other = second_officer(app, cast)
    message = post(api, cast.member2, cast.group["id"], "可疑消息")
    report(api, cast.member, "message", message["id"])
    [item] = items(app)
    results = run_together(4, lambda who: api.post(f"/api/officer/review/{item.id}/claim",
                                                   as_=who),
                           [cast.officer, other, cast.officer, other])
    codes = sorted(r.status_code for r in results)
    winner = next(r.json()["claimed_by"] for r in results if r.status_code == 200)
    # The winner may extend their own claim; the other officer is refused every time.
    assert codes.count(409) >= 2, [r.text for r in results]
    assert {error_code(r) for r in results if r.status_code == 409} == {
        "review_claimed_by_another"}
    assert all(r.json()["claimed_by"] == winner for r in results if r.status_code == 200)
    assert items(app)[0].claimed_by == winner
    claims = audit_records(app, EventType.REVIEW_ITEM_CLAIMED)
    assert {c.acting_id for c in claims} == {winner}
