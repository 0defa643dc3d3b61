"""Post-send screening into enforcement, end to end: a rule on a post-send detector fires on a
delivered message, the outbox carries SCREENING_FLAGGED to enforcement, and a reviewer finds
an item with source "screening" for that message. The message stays delivered meanwhile."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from qunguan.enforcement.models import ReviewItem
from qunguan.kernel.events import EventType
from qunguan.kernel.outbox import process_batch
from qunguan.screening import VerdictKind
from qunguan.screening.models import ScreeningHit
from tests.conftest import Api, Cast, audit_records
from tests.messaging.conftest import forward, make_group, posted
from tests.screening.conftest import AddDetector


def drain(app: Any) -> None:
    for _ in range(20):
        if not process_batch(app.state.uows):
            return
    raise AssertionError("the outbox did not drain")


def review_items(app: Any) -> list[ReviewItem]:
    uow = app.state.uows()
    try:
        return list(uow.session.scalars(select(ReviewItem).order_by(ReviewItem.id)))
    finally:
        uow.close()


def post_hits(app: Any) -> list[ScreeningHit]:
    uow = app.state.uows()
    try:
        return list(uow.session.scalars(select(ScreeningHit).where(ScreeningHit.stage == "post")
                                        .order_by(ScreeningHit.id)))
    finally:
        uow.close()


def test_a_post_send_flag_opens_a_screening_review_item(
        api: Api, cast: Cast, app: Any, gid: int, add_detector: AddDetector) -> None:
    add_detector("slow", VerdictKind.HOLD, "可疑", stage="post")
    m = posted(api, cast.member, gid, "一条可疑的消息")
    assert m["status"] == "delivered"
    process_batch(app.state.uows)  # MESSAGE_POSTED: screening flags
    drain(app)  # SCREENING_FLAGGED: enforcement opens the item
    [item] = [i for i in review_items(app) if i.source == "screening"]
    assert (item.subject_type, item.subject_id, item.group_id, item.status) == (
        "message", m["id"], gid, "open")
    assert [r["rule"] for r in item.rules] == ["slow.rule"]
    [opened] = [a for a in audit_records(app, EventType.REVIEW_ITEM_OPENED)
                if a.extra.get("source") == "screening"]
    assert opened.extra["item_subject_type"] == "message"
    # The officer's queue shows it; the message is still delivered for everyone.
    queue = api.get("/api/officer/review", as_=cast.officer,
                    params={"source": "screening"}).json()
    assert [(q["id"], q["subject_id"]) for q in queue] == [(item.id, m["id"])]
    assert api.get(f"/api/messages/{m['id']}", as_=cast.member2).json()["status"] == \
        "delivered"


def test_a_forwarded_copy_is_screened_after_delivery(
        api: Api, cast: Cast, app: Any, gid: int, add_detector: AddDetector) -> None:
    other = make_group(api, cast.member2, "转发目标群", cast.member)
    original = posted(api, cast.member, gid, "普通消息")
    drain(app)  # the original is screened before the rule exists
    add_detector("slow", VerdictKind.HOLD, "普通", stage="post")
    r = forward(api, cast.member, original["id"], [other["id"]])
    assert r.status_code == 201, r.text
    drain(app)
    [hit] = post_hits(app)
    assert hit.message_id != original["id"]
    assert hit.group_id == other["id"]
    [item] = [i for i in review_items(app) if i.source == "screening"]
    assert (item.subject_id, item.group_id) == (hit.message_id, other["id"])


def test_a_released_message_gets_its_post_send_screening(
        api: Api, cast: Cast, app: Any, gid: int, add_detector: AddDetector) -> None:
    """A held message skipped post-send rules while held; once a reviewer releases it, they
    run as for any delivery (G4)."""
    add_detector("gate", VerdictKind.HOLD, "待审")
    add_detector("slow", VerdictKind.HOLD, "可疑", stage="post")
    held = posted(api, cast.member, gid, "待审：一条可疑的消息")
    assert held["status"] == "held"
    drain(app)
    assert post_hits(app) == []  # nothing post-send while held
    [item] = review_items(app)
    assert item.source == "held"
    r = api.post(f"/api/officer/review/{item.id}/claim", as_=cast.officer)
    assert r.status_code == 200, r.text
    r = api.post(f"/api/officer/review/{item.id}/decide", as_=cast.officer,
                 json={"decision": "dismiss", "reason": "内容正常"})
    assert r.status_code == 200, r.text
    [released] = audit_records(app, EventType.MESSAGE_RELEASED)
    assert released.subject_id == str(held["id"])
    drain(app)
    [hit] = post_hits(app)
    assert (hit.message_id, hit.rule_id) == (held["id"], "slow.rule")
    [flag] = audit_records(app, EventType.SCREENING_FLAGGED)
    assert flag.subject_id == str(held["id"])
    [new] = [i for i in review_items(app) if i.source == "screening"]
    assert (new.subject_id, new.status) == (held["id"], "open")
