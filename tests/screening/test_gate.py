"""The pre-send gate as messaging sees it: each verdict kind end to end, with its record.

Fake detectors, each with one rule in a test pack (tests/screening/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from qunguan.kernel.events import EventType
from qunguan.messaging.fingerprint import fingerprint
from qunguan.screening import VerdictKind
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.messaging.conftest import (
    count_messages,
    count_rows,
    forward,
    history_ids,
    make_group,
    message_row,
    post,
    posted,
    stored_forwards,
)
from tests.screening.conftest import AddDetector


def reason_of(name: str, trigger: str) -> dict[str, Any]:
    return {"rule": f"{name}.rule", "detector": name, "text_zh": f"{name}提示",
            "text_en": f"{name} says", "data": {"severity": 3, "labels": ["hit"]}}


def test_ordinary_text_is_allowed(api: Api, cast: Cast, gid: int) -> None:
    m = posted(api, cast.member, gid, "普通消息")
    assert (m["status"], m["labels"]) == ("delivered", [])


def test_detector_sees_the_context(api: Api, cast: Cast, gid: int,
                                   add_detector: AddDetector) -> None:
    spy = add_detector("spy", VerdictKind.LABEL, "永远不会出现的词")
    posted(api, cast.member, gid, "看看上下文")
    [ctx] = spy.seen
    assert (ctx.action, ctx.account_id, ctx.group_id) == ("post", cast.member.id, gid)
    assert ctx.account_verified is True
    assert ctx.text == "看看上下文"
    assert ctx.fingerprint == fingerprint("看看上下文")
    assert ctx.group_category == "work"
    assert (ctx.origin_message_id, ctx.hop) == (None, 0)
    assert (ctx.recent_messages, ctx.first_in_group) == (0, True)
    posted(api, cast.member, gid, "再看一次")
    assert (spy.seen[-1].recent_messages, spy.seen[-1].first_in_group) == (1, False)


def test_label_delivers_with_labels(api: Api, cast: Cast, app: Any, gid: int,
                                    add_detector: AddDetector) -> None:
    add_detector("fake_debunk", VerdictKind.LABEL, "喝醋")
    r = post(api, cast.member, gid, "听说喝醋能防病毒")
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["status"] == "delivered"
    assert m["labels"] == [reason_of("fake_debunk", "喝醋")]
    [audit] = audit_records(app, EventType.MESSAGE_POSTED)
    assert audit.extra["verdict"] == "label"
    assert audit.extra["reasons"] == [reason_of("fake_debunk", "喝醋")]
    [event] = outbox_events(app, EventType.MESSAGE_POSTED)
    assert event.group_id == gid
    assert event.payload["message"]["labels"] == m["labels"]
    # Everyone sees the label with the message.
    [item] = api.get(f"/api/groups/{gid}/messages", as_=cast.member2).json()["items"]
    assert item["labels"] == m["labels"]
    stored = message_row(app, m["id"])
    assert stored is not None
    assert stored.verdict == "label"


def test_confirm_then_resend(api: Api, cast: Cast, app: Any, gid: int,
                             add_detector: AddDetector) -> None:
    add_detector("friction", VerdictKind.CONFIRM, "转发给所有人")
    before = count_rows(app)
    r = post(api, cast.member, gid, "请大家转发给所有人")
    assert (r.status_code, error_code(r)) == (409, "confirmation_required")
    assert r.json()["error"]["details"]["reasons"] == [reason_of("friction", "转发给所有人")]
    assert count_rows(app) == before  # asking is not a record
    r = post(api, cast.member, gid, "请大家转发给所有人", confirm=True)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "delivered"
    [audit] = audit_records(app, EventType.MESSAGE_POSTED)
    assert audit.extra["verdict"] == "confirm"
    assert len(outbox_events(app, EventType.MESSAGE_POSTED)) == 1


def test_confirm_flag_does_not_override_a_block(api: Api, cast: Cast, app: Any, gid: int,
                                                add_detector: AddDetector) -> None:
    add_detector("wall", VerdictKind.BLOCK, "违禁")
    r = post(api, cast.member, gid, "违禁内容", confirm=True)
    assert (r.status_code, error_code(r)) == (422, "message_blocked")
    assert count_messages(app) == 0


def test_hold_is_seen_only_by_its_sender(api: Api, cast: Cast, app: Any, gid: int,
                                         add_detector: AddDetector) -> None:
    add_detector("review", VerdictKind.HOLD, "内部文件")
    visible = posted(api, cast.member2, gid, "普通消息")
    r = post(api, cast.member, gid, "这是内部文件，请勿外传")
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["status"] == "held"
    assert held["labels"] == [reason_of("review", "内部文件")]

    assert history_ids(api, cast.member, gid) == [held["id"], visible["id"]]
    for person in (cast.member2, cast.admin, cast.founder):
        assert history_ids(api, person, gid) == [visible["id"]]
        r = api.get(f"/api/messages/{held['id']}", as_=person)
        assert (r.status_code, error_code(r)) == (404, "not_found")
    assert api.get(f"/api/messages/{held['id']}", as_=cast.member).json()["status"] == "held"

    [audit] = audit_records(app, EventType.MESSAGE_HELD)
    assert audit.acting_id == cast.member.id
    assert audit.subject_id == str(held["id"])
    assert audit.extra["verdict"] == "hold"
    assert audit.extra["fingerprint"] == held["fingerprint"]
    assert [a.subject_id for a in audit_records(app, EventType.MESSAGE_POSTED)] == [
        str(visible["id"])]
    [event] = outbox_events(app, EventType.MESSAGE_HELD)
    assert event.group_id is None  # not delivered to the group
    assert event.payload["account_ids"] == [cast.member.id]
    assert event.payload["message"]["id"] == held["id"]


def test_held_message_cannot_be_replied_to_forwarded_or_deleted_by_others(
        api: Api, cast: Cast, app: Any, gid: int, add_detector: AddDetector) -> None:
    add_detector("review", VerdictKind.HOLD, "待审")
    held = posted(api, cast.member, gid, "待审消息")
    for r in (post(api, cast.member2, gid, "回复", reply_to_id=held["id"]),
              forward(api, cast.member2, held["id"], [gid]),
              forward(api, cast.member, held["id"], [gid]),
              api.post(f"/api/messages/{held['id']}/delete", as_=cast.admin, json={})):
        assert (r.status_code, error_code(r)) == (404, "not_found")


def test_block_keeps_the_record_but_no_message(api: Api, cast: Cast, app: Any, gid: int,
                                               add_detector: AddDetector) -> None:
    add_detector("wall", VerdictKind.BLOCK, "身份证号")
    text = "把你的身份证号发给我"
    r = post(api, cast.member, gid, text)
    assert (r.status_code, error_code(r)) == (422, "message_blocked")
    assert r.json()["error"]["details"]["reasons"] == [reason_of("wall", "身份证号")]
    assert count_messages(app) == 0
    [audit] = audit_records(app, EventType.MESSAGE_BLOCKED)  # committed despite the error
    assert audit.acting_id == cast.member.id
    assert (audit.subject_type, audit.subject_id, audit.group_id) == ("group", str(gid), gid)
    assert audit.extra["text"] == text  # evidence of the attempt (LR-3)
    assert audit.extra["fingerprint"] == fingerprint(text)
    assert audit.extra["reasons"] == [reason_of("wall", "身份证号")]
    [event] = outbox_events(app, EventType.MESSAGE_BLOCKED)
    assert event.group_id is None  # the group never hears of it
    assert event.payload["account_ids"] == [cast.member.id]
    assert event.payload["target_group_id"] == gid
    assert event.payload["fingerprint"] == fingerprint(text)
    assert "text" not in event.payload
    assert history_ids(api, cast.member, gid) == []
    assert audit_records(app, EventType.MESSAGE_POSTED) == []


def test_strictest_wins(api: Api, cast: Cast, app: Any, gid: int,
                        add_detector: AddDetector) -> None:
    add_detector("labeller", VerdictKind.LABEL, "谣言")
    add_detector("holder", VerdictKind.HOLD, "谣言")
    add_detector("asker", VerdictKind.CONFIRM, "谣言")
    r = post(api, cast.member, gid, "这是谣言")
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["status"] == "held"
    # Every reason is kept, in the pack's rule order, not only the deciding one.
    assert [x["detector"] for x in m["labels"]] == ["labeller", "holder", "asker"]
    add_detector("blocker", VerdictKind.BLOCK, "谣言")
    r = post(api, cast.member, gid, "又是谣言", confirm=True)
    assert (r.status_code, error_code(r)) == (422, "message_blocked")
    assert len(r.json()["error"]["details"]["reasons"]) == 4
    # ... and a text only some detectors fire on gets only theirs.
    add_detector("mild", VerdictKind.LABEL, "提醒")
    m = posted(api, cast.member, gid, "温馨提醒")
    assert (m["status"], [x["detector"] for x in m["labels"]]) == ("delivered", ["mild"])


def test_post_stage_detectors_do_not_run_in_the_gate(api: Api, cast: Cast, gid: int,
                                                     add_detector: AddDetector) -> None:
    slow = add_detector("slow", VerdictKind.BLOCK, "任何", stage="post")
    m = posted(api, cast.member, gid, "任何内容")
    assert m["status"] == "delivered"
    assert slow.seen == []


def test_gate_runs_after_the_cheap_checks(api: Api, cast: Cast, app: Any, gid: int,
                                          add_detector: AddDetector) -> None:
    """An outsider or an empty text never reaches detectors, and leaves no block record."""
    spy = add_detector("wall", VerdictKind.BLOCK, "禁")
    for r in (post(api, cast.outsider, gid, "禁"), post(api, cast.newcomer, gid, "禁"),
              post(api, cast.member, gid, "禁" * 5000)):
        assert r.status_code in (403, 404, 422)
        assert error_code(r) != "message_blocked"
    assert spy.seen == []
    assert audit_records(app, EventType.MESSAGE_BLOCKED) == []


# --- forwards pass the gate per target --------------------------------------------------


def test_forward_is_screened_per_target(api: Api, cast: Cast, app: Any, gid: int,
                                        add_detector: AddDetector) -> None:
    spy = add_detector("spy", VerdictKind.LABEL, "转发")
    other = make_group(api, cast.member2, "第二个群", cast.member)
    source = posted(api, cast.member2, gid, "转发测试")
    spy.seen.clear()
    [copy] = forward(api, cast.member, source["id"], [other["id"]]).json()
    [ctx] = spy.seen
    assert (ctx.action, ctx.group_id, ctx.origin_message_id, ctx.hop) == (
        "forward", other["id"], source["id"], 1)
    assert copy["labels"] == [reason_of("spy", "转发")]


def test_forward_confirm_hold_and_block(api: Api, cast: Cast, app: Any, gid: int,
                                        add_detector: AddDetector) -> None:
    other = make_group(api, cast.member2, "第二个群", cast.member)
    asked = posted(api, cast.member2, gid, "确认后转发")
    held = posted(api, cast.member2, gid, "转发后待审")
    blocked = posted(api, cast.member2, gid, "转发被拦")
    add_detector("asker", VerdictKind.CONFIRM, "确认")
    add_detector("holder", VerdictKind.HOLD, "待审")
    add_detector("blocker", VerdictKind.BLOCK, "被拦")

    before = count_rows(app)
    r = forward(api, cast.member, asked["id"], [other["id"]])
    assert (r.status_code, error_code(r)) == (409, "confirmation_required")
    assert count_rows(app) == before
    r = forward(api, cast.member, asked["id"], [other["id"]], confirm=True)
    assert r.status_code == 201, r.text
    [confirmed] = r.json()
    assert confirmed["status"] == "delivered"

    [copy] = forward(api, cast.member, held["id"], [other["id"]]).json()
    assert copy["status"] == "held"
    [audit] = audit_records(app, EventType.MESSAGE_HELD)
    assert audit.subject_id == str(copy["id"])
    assert audit.extra["origin_id"] == held["id"]
    assert history_ids(api, cast.member2, other["id"]) == [confirmed["id"]]
    assert history_ids(api, cast.member, other["id"]) == [copy["id"], confirmed["id"]]

    messages = count_messages(app)
    r = forward(api, cast.member, blocked["id"], [other["id"]])
    assert (r.status_code, error_code(r)) == (422, "message_blocked")
    assert count_messages(app) == messages
    assert stored_forwards(app, blocked["id"]) is None
    [audit] = audit_records(app, EventType.MESSAGE_BLOCKED)
    assert audit.extra["fingerprint"] == blocked["fingerprint"]
    assert audit.group_id == other["id"]


def test_forward_block_wins_over_confirm_on_another_target(
        api: Api, cast: Cast, app: Any, gid: int, add_detector: AddDetector) -> None:
    """Strictest wins across targets too: a block is recorded and answered even when an
    earlier target only asked for confirmation (no confirm-then-block round trip)."""
    ask_here = make_group(api, cast.member2, "要确认的群", cast.member)
    block_here = make_group(api, cast.member2, "会拦截的群", cast.member)
    source = posted(api, cast.member2, gid, "分群拦截")
    add_detector("asker", VerdictKind.CONFIRM, "分群")
    add_detector("by_group", VerdictKind.BLOCK, "分群", only_group=block_here["id"])
    messages = count_messages(app)
    r = forward(api, cast.member, source["id"], [ask_here["id"], block_here["id"]])
    assert (r.status_code, error_code(r)) == (422, "message_blocked")
    [audit] = audit_records(app, EventType.MESSAGE_BLOCKED)
    assert audit.group_id == block_here["id"]
    assert count_messages(app) == messages


@pytest.mark.parametrize("fail_closed", [False, True])
def test_a_failing_detector_is_logged_and_never_a_500(api: Api, cast: Cast, app: Any,
                                                      fail_closed: bool,
                                                      add_detector: AddDetector) -> None:
    app.state.settings.screening_fail_closed = fail_closed
    add_detector("broken_for_test", VerdictKind.LABEL, "", broken=True)
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast.member,
                 json={"text": "检测器出错时"})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == ("held" if fail_closed else "delivered")
    if fail_closed:
        assert r.json()["labels"][0]["rule"] == "detector_error"
