"""Corrections pushed back (CR-8): a new or upgraded debunk is matched against the messages of
the last days, every copy is labelled, and each member who sent, forwarded or was in a group
that received one is told once per debunk, however often the work is retried."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from qunguan.kernel.models import OutboxEvent
from qunguan.rumors import actions as rumors_actions
from tests.conftest import Api, Cast, audit_records, outbox_events
from tests.rumors.debunk_helpers import (
    CHILD_ALARM,
    add,
    cards,
    drain,
    entry,
    message,
    notices,
    post,
    uow_of,
)

GARLIC = "【转】吃大蒜能治愈新冠肺炎，每天生吃三瓣就不会被感染，转给家人！"


def second_group(api: Api, cast: Cast) -> dict[str, Any]:
    """The admin's own group, with member2 only: a forward carries the rumour there."""
    r = api.post("/api/groups", as_=cast.admin,
                 json={"name": "家长群", "category": "work", "rules_text": "文明交流"})
    assert r.status_code == 201, r.text
    group = r.json()
    from tests.conftest import join_by_invitation
    join_by_invitation(api, group, cast.admin, cast.member2)
    return dict(group)


def group_member_ids(api: Api, cast: Cast, group_id: int, who: Any) -> set[int]:
    r = api.get(f"/api/groups/{group_id}/members", as_=who)
    return {m["account_id"] for m in r.json()}


def test_a_new_debunk_labels_earlier_copies_and_tells_each_member_once(
        api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    other = second_group(api, cast)
    first = post(api, cast.member, gid, GARLIC)
    copy = post(api, cast.founder, gid, GARLIC)  # re-posted, not forwarded
    r = api.post(f"/api/messages/{first['id']}/forward", as_=cast.member2,
                 json={"group_ids": [other["id"]]})
    assert r.status_code == 201, r.text
    [forwarded] = r.json()
    unrelated = post(api, cast.member, gid, "明天上午九点开会")
    drain(app)
    assert all(cards(m) == [] for m in (first, copy, forwarded))

    created = add(api, cast)
    drain(app)
    for viewer, mid in ((cast.member, first["id"]), (cast.founder, copy["id"]),
                        (cast.member2, forwarded["id"])):
        [card] = cards(message(api, viewer, mid))
        assert card["debunk_id"] == created["id"]
        assert card["verdict"] == "false"
    assert cards(message(api, cast.member, unrelated["id"])) == []

    expected = group_member_ids(api, cast, gid, cast.founder) | \
        group_member_ids(api, cast, other["id"], cast.admin)
    assert notices(app, created["id"]) == sorted(expected)
    sent = outbox_events(app, EventType.CORRECTION_SENT)
    told = [a for ev in sent for a in ev.payload["account_ids"]]
    assert sorted(told) == sorted(expected)  # each member once
    assert all(ev.group_id is None for ev in sent)  # to the members, not broadcast
    assert sent[0].payload["debunk"]["debunk_id"] == created["id"]
    [rec] = audit_records(app, EventType.CORRECTION_SENT)
    assert rec.extra["accounts"] == sorted(expected)
    assert rec.subject_id == str(created["id"])
    assert cast.outsider.id not in told

    # Running the handler again (a retry, a second worker) tells nobody twice and adds no
    # second card.
    with uow_of(app) as uow:
        rumors_actions.start_sweep(uow, {created["id"]: created["version"]})
        uow.commit()
    drain(app)
    assert len(outbox_events(app, EventType.CORRECTION_SENT)) == len(sent)
    assert len(cards(message(api, cast.member, first["id"]))) == 1

    # An edit that is not an upgrade starts no new round.
    api.patch(f"/api/officer/debunks/{created['id']}", as_=cast.officer,
              json={"publisher": "国家卫生健康委员会"})
    drain(app)
    assert len(outbox_events(app, EventType.CORRECTION_SENT)) == len(sent)


def test_an_upgrade_to_false_corrects_but_unverified_does_not(api: Api, cast: Cast,
                                                              app: Any) -> None:
    gid = cast.group["id"]
    sent = post(api, cast.member, gid, GARLIC)
    created = add(api, cast, verdict="unverified")
    drain(app)
    # "unverified" labels new messages but pushes nothing back.
    assert notices(app, created["id"]) == []
    assert cards(message(api, cast.member, sent["id"])) == []
    r = api.patch(f"/api/officer/debunks/{created['id']}", as_=cast.officer,
                  json={"verdict": "false"})
    assert r.status_code == 200
    drain(app)
    assert cast.member.id in notices(app, created["id"])
    [card] = cards(message(api, cast.member, sent["id"]))
    assert card["version"] == 2


def test_messages_older_than_the_window_are_left_alone(api: Api, cast: Cast, app: Any,
                                                      clock: FixedClock) -> None:
    gid = cast.group["id"]
    app.state.settings.rumors_correction_days = 1  # the cast's tokens would not last 30 days
    old = post(api, cast.member, gid, GARLIC)
    clock.advance(hours=25)
    fresh = post(api, cast.founder, gid, "转发：吃大蒜能治愈新冠肺炎，每天生吃三瓣就不会被感染")
    add(api, cast)
    drain(app)
    assert cards(message(api, cast.founder, fresh["id"]))
    # The old message shares no fingerprint with the fresh one, so it keeps no card.
    assert cards(message(api, cast.member, old["id"])) == []


@pytest.fixture
def small_batches(app: Any) -> Any:
    settings = app.state.settings
    before = settings.rumors_correction_batch
    settings.rumors_correction_batch = 3
    yield
    settings.rumors_correction_batch = before


def test_a_backlog_is_swept_in_bounded_steps(api: Api, cast: Cast, app: Any,
                                             small_batches: Any) -> None:
    gid = cast.group["id"]
    target = post(api, cast.member, gid, CHILD_ALARM.replace("面包车", "白色面包车"))
    for n in range(8):
        post(api, cast.founder, gid, f"第{n}条工作安排：请各部门周五前提交材料。")
    drain(app)
    created = add(api, cast, claim=CHILD_ALARM.replace("面包车", "白色面包车"))
    # The first step runs with the DEBUNK_ADDED event; each further one is its own event
    # (its own transaction) and holds at most three messages.
    drain(app)
    steps = outbox_events(app, EventType.CORRECTION_SWEEP)
    assert len(steps) >= 2
    assert [s.payload["before_id"] for s in steps] == sorted(
        (s.payload["before_id"] for s in steps), reverse=True)
    with uow_of(app) as uow:
        pending = uow.session.scalars(select(OutboxEvent).where(
            OutboxEvent.processed_at.is_(None))).all()
    assert pending == []
    [card] = cards(message(api, cast.member, target["id"]))
    assert card["debunk_id"] == created["id"]
    assert cast.member.id in notices(app, created["id"])


def test_a_sweep_for_a_retired_debunk_stops(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    post(api, cast.member, gid, GARLIC)
    r = api.post("/api/officer/debunks", as_=cast.officer, json=entry())
    created = r.json()
    api.post(f"/api/officer/debunks/{created['id']}/retire", as_=cast.officer,
             json={"reason": "录入有误"})
    drain(app)
    assert notices(app, created["id"]) == []
    assert audit_records(app, EventType.CORRECTION_SENT) == []


def test_members_read_their_own_corrections_and_see_a_withdrawal(api: Api, cast: Cast,
                                                                   app: Any) -> None:
    """GET /api/me/corrections: the cards a member was sent, newest first, their own only; a
    debunk retired afterwards stays on the list, marked withdrawn."""
    gid = cast.group["id"]
    r = api.get("/api/me/corrections", as_=cast.member)
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "total": 0}
    post(api, cast.member, gid, GARLIC)
    post(api, cast.member, gid, CHILD_ALARM)
    drain(app)
    garlic = add(api, cast)
    drain(app)
    alarm = add(api, cast, claim="有人贩子开着面包车在学校附近抢孩子，已经有好几个孩子被抓走了",
                refutation="公安机关核查：当地没有发生抢孩子案件，系编造。")
    drain(app)
    page = api.get("/api/me/corrections", as_=cast.member).json()
    assert page["total"] == 2
    assert [c["debunk_id"] for c in page["items"]] == [alarm["id"], garlic["id"]]
    assert page["items"][1]["card"]["verdict"] == "false"
    assert page["items"][1]["notified_version"] == garlic["version"]
    assert not any(c["withdrawn"] for c in page["items"])
    assert api.get("/api/me/corrections?limit=1", as_=cast.member).json()["total"] == 2
    assert len(api.get("/api/me/corrections?limit=1", as_=cast.member).json()["items"]) == 1
    # Someone outside the group saw neither message and was told nothing.
    assert api.get("/api/me/corrections", as_=cast.outsider).json()["total"] == 0

    r = api.post(f"/api/officer/debunks/{garlic['id']}/retire", as_=cast.officer,
                 json={"reason": "录入有误"})
    assert r.status_code == 200, r.text
    items = api.get("/api/me/corrections", as_=cast.member).json()["items"]
    assert [c["withdrawn"] for c in items] == [False, True]
    r = api.get("/api/me/corrections?limit=0", as_=cast.member)
    assert r.status_code == 422
    assert api.get("/api/me/corrections").status_code == 401


def test_a_later_change_that_starts_no_sweep_does_not_stop_a_running_one(
        api: Api, cast: Cast, app: Any, small_batches: Any) -> None:
    """A phrasing starts a sweep over the last days in steps; the publisher corrected between
    two steps grows the entry's version but starts no sweep of its own: the running sweep
    still reaches the oldest copy, with the card as it reads now."""
    from qunguan.kernel.outbox import process_batch

    gid = cast.group["id"]
    # Not a verbatim copy of the newest message (copies by fingerprint are labelled together).
    target = post(api, cast.member, gid,
                  "大家注意：吃大蒜能治愈新冠肺炎，每天生吃三瓣就不会被感染，转给家人！")
    for n in range(8):
        post(api, cast.founder, gid, f"第{n}条工作安排：请各部门周五前提交材料。")
    newest = post(api, cast.founder, gid, GARLIC)
    created = add(api, cast, claim="吃生姜可以杀死新冠病毒，每天喝姜汤就不会感染")
    drain(app)
    assert cards(message(api, cast.member, target["id"])) == []
    r = api.post(f"/api/officer/debunks/{created['id']}/phrasings", as_=cast.officer,
                 json={"text": GARLIC})
    assert r.status_code == 201, r.text
    process_batch(app.state.uows)  # the first step: the newest three messages
    assert [c["debunk_id"] for c in cards(message(api, cast.member, newest["id"]))] \
        == [created["id"]]
    assert cards(message(api, cast.member, target["id"])) == []
    r = api.patch(f"/api/officer/debunks/{created['id']}", as_=cast.officer,
                  json={"publisher": "国家卫生健康委员会"})
    assert r.status_code == 200, r.text
    drain(app)
    [shown] = cards(message(api, cast.member, target["id"]))
    assert shown["debunk_id"] == created["id"]
    assert shown["publisher"] == "国家卫生健康委员会"
    assert cast.member.id in notices(app, created["id"])


def test_a_new_phrasing_does_not_relabel_what_already_carries_the_same_card(
        api: Api, cast: Cast, app: Any) -> None:
    """The sweep a phrasing starts finds the copies labelled already: the card they carry says
    the same (only the entry's version grew), so nothing is written again."""
    post(api, cast.member, cast.group["id"], GARLIC)
    created = add(api, cast)
    drain(app)
    labelled = len(audit_records(app, EventType.MESSAGES_LABELLED))
    assert labelled >= 1
    r = api.post(f"/api/officer/debunks/{created['id']}/phrasings", as_=cast.officer,
                 json={"text": "每天生吃大蒜就能预防新冠"})
    assert r.status_code == 201, r.text
    drain(app)
    assert len(audit_records(app, EventType.MESSAGES_LABELLED)) == labelled
