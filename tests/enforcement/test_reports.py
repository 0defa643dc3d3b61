"""Member reports (CR-2, CR-3, AT-3): receipt, visibility, merging, limits, the outcome."""

from __future__ import annotations

from typing import Any

import pytest

from qunguan.enforcement.models import ItemSource, Report
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code, make_officer, outbox_events
from tests.enforcement.review_helpers import (
    claim,
    decide,
    items,
    post,
    report,
    reports_of,
    rows,
    run_together,
)


def test_report_a_message_gets_a_receipt_and_opens_an_item(api: Api, cast: Cast,
                                                           app: Any) -> None:
    gid = cast.group["id"]
    message = post(api, cast.member2, gid, "有空来我店里看看，价格好商量")
    receipt = report(api, cast.member, "message", message["id"], reason="fraud",
                     note="诈骗赌博广告")
    assert receipt["status"] == "open"
    assert receipt["subject_type"] == "message"
    assert receipt["subject_id"] == message["id"]
    assert receipt["reason"] == "fraud"
    assert receipt["good_faith"] is True
    assert receipt["outcome"] is None
    assert "officer will review" in receipt["next_steps"]

    [item] = items(app)
    assert item.source == ItemSource.REPORT
    assert (item.subject_type, item.subject_id, item.group_id) == ("message", message["id"], gid)
    assert item.severity == 3  # fraud
    assert item.rules[0]["rule"] == "report.fraud"
    [stored] = reports_of(app, cast.member.id)
    assert stored.review_item_id == item.id
    assert stored.note == "诈骗赌博广告"

    [filed] = audit_records(app, EventType.REPORT_FILED)
    assert filed.acting_id == cast.member.id
    assert filed.extra["report_id"] == receipt["id"]
    assert filed.extra["review_item_id"] == item.id
    assert "note" not in filed.extra  # free text stays out of the record
    [opened] = audit_records(app, EventType.REVIEW_ITEM_OPENED)
    assert opened.subject_id == str(item.id)
    assert opened.extra["source"] == "report"
    [event] = outbox_events(app, EventType.REPORT_FILED)
    assert event.payload["account_ids"] == [cast.member.id]
    # The review is officers' business: the group is not told of it.
    assert all(e.group_id is None for e in outbox_events(app, EventType.REVIEW_ITEM_OPENED))


def test_reports_of_one_subject_join_one_item(api: Api, cast: Cast, app: Any) -> None:
    message = post(api, cast.member2, cast.group["id"], "刷屏广告")
    report(api, cast.member, "message", message["id"], reason="spam")
    report(api, cast.admin, "message", message["id"], reason="personal_data")
    [item] = items(app)
    assert item.severity == 4  # raised by the more urgent reason
    assert [r["rule"] for r in item.rules] == ["report.spam", "report.personal_data"]
    assert {r.review_item_id for r in rows(app, Report)} == {item.id}
    assert len(audit_records(app, EventType.REVIEW_ITEM_OPENED)) == 1
    assert len(audit_records(app, EventType.REPORT_FILED)) == 2


def test_reporting_the_same_subject_twice_while_open_is_refused(api: Api, cast: Cast,
                                                                app: Any) -> None:
    message = post(api, cast.member2, cast.group["id"], "刷屏")
    first = report(api, cast.member, "message", message["id"])
    r = api.post("/api/reports", as_=cast.member,
                 json={"subject_type": "message", "subject_id": message["id"],
                       "reason": "harassment"})
    assert r.status_code == 409
    assert error_code(r) == "already_reported"
    assert r.json()["error"]["details"]["report_id"] == first["id"]
    assert len(reports_of(app, cast.member.id)) == 1


def test_only_what_the_reporter_can_see(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    message = post(api, cast.member2, gid, "一条消息")
    for person, subject_type, subject_id in (
            (cast.outsider, "message", message["id"]),  # not in the group
            (cast.outsider, "group", gid),
            (cast.outsider, "account", cast.member.id),  # shares no group
            (cast.member, "account", cast.outsider.id),
            (cast.member, "account", cast.member.id),  # oneself
            (cast.member, "message", 10**9),
            (cast.member, "group", 10**9),
            (cast.officer, "message", message["id"])):  # an officer outside the group
        r = api.post("/api/reports", as_=person, json={"subject_type": subject_type,
                                                       "subject_id": subject_id,
                                                       "reason": "other"})
        assert r.status_code == 404, (person.key, subject_type, r.text)
        assert error_code(r) == "not_found"
    assert rows(app, Report) == []
    # A member the reporter shares a group with, and the group itself: fine.
    report(api, cast.member, "account", cast.member2.id, reason="harassment")
    report(api, cast.member, "group", gid, reason="spam")
    # Unverified members may report too (reading is allowed before verification).
    report(api, cast.newcomer, "message", message["id"], reason="rumor")
    assert {(i.subject_type, i.group_id) for i in items(app)} == {
        ("account", None), ("group", gid), ("message", gid)}


def test_daily_cap_on_reports(api: Api, cast: Cast, app: Any, clock: Any) -> None:
    app.state.uows.settings.report_daily_cap = 2
    gid = cast.group["id"]
    ids = [post(api, cast.member2, gid, f"第{n}条")["id"] for n in range(3)]
    report(api, cast.member, "message", ids[0])
    report(api, cast.member, "message", ids[1])
    r = api.post("/api/reports", as_=cast.member,
                 json={"subject_type": "message", "subject_id": ids[2], "reason": "spam"})
    assert r.status_code == 429
    assert error_code(r) == "too_many_reports"
    assert r.json()["error"]["details"]["cap"] == 2
    clock.advance(hours=24, seconds=1)
    report(api, cast.member, "message", ids[2])


def test_my_reports_and_the_outcome(api: Api, cast: Cast, app: Any) -> None:
    message = post(api, cast.member2, cast.group["id"], "骂人的话")
    mine = report(api, cast.member, "message", message["id"], reason="harassment")
    other = report(api, cast.admin, "message", message["id"], reason="harassment")
    listed = api.get("/api/me/reports", as_=cast.member).json()
    assert [r["id"] for r in listed] == [mine["id"]]
    r = api.get(f"/api/me/reports/{other['id']}", as_=cast.member)
    assert r.status_code == 404
    assert error_code(r) == "not_found"

    [item] = items(app)
    claim(api, cast.officer, item.id)
    decide(api, cast.officer, item.id, "remove", reason="辱骂他人")
    seen = api.get(f"/api/me/reports/{mine['id']}", as_=cast.member).json()
    assert seen["status"] == "decided"
    assert seen["outcome"] == "upheld"
    assert "removed the message" in seen["next_steps"]
    assert "report again" in seen["next_steps"]  # redress options (AT-3)
    assert seen["decided_at"] is not None
    decided = audit_records(app, EventType.REPORT_DECIDED)
    assert sorted(int(d.subject_id or 0) for d in decided) == sorted([mine["id"], other["id"]])
    events = outbox_events(app, EventType.REPORT_DECIDED)
    assert sorted(e.payload["account_ids"][0] for e in events) == sorted(
        [cast.member.id, cast.admin.id])
    assert {e.payload["outcome"] for e in events} == {"upheld"}
    # Decided: the same member may report the same message again (a new case).
    report(api, cast.member, "account", cast.member2.id, reason="harassment")


def test_dismissed_report_is_not_upheld(api: Api, cast: Cast, app: Any) -> None:
    message = post(api, cast.member2, cast.group["id"], "明天开会")
    mine = report(api, cast.member, "message", message["id"], reason="rumor")
    [item] = items(app)
    claim(api, cast.officer, item.id)
    decide(api, cast.officer, item.id, "dismiss", reason="内容属实，无违规")
    seen = api.get(f"/api/me/reports/{mine['id']}", as_=cast.member).json()
    assert seen["outcome"] == "not_upheld"
    assert "no action" in seen["next_steps"]
    # The message stays.
    assert api.get(f"/api/messages/{message['id']}", as_=cast.member).json()["text"] == "明天开会"


def test_officers_report_what_they_see_as_members(api: Api, cast: Cast, app: Any) -> None:
    """An officer who is also a member of a group reports like any member (the doc says so);
    outside their groups they see nothing to report."""
    make_officer(app, cast.admin)
    message = post(api, cast.member2, cast.group["id"], "群里的可疑消息")
    receipt = report(api, cast.admin, "message", message["id"], reason="fraud")
    [item] = items(app)
    assert receipt["status"] == "open"
    assert [r.reporter_id for r in rows(app, Report, review_item_id=item.id)] == [cast.admin.id]
    [filed] = audit_records(app, EventType.REPORT_FILED)
    assert filed.acting_id == cast.admin.id


@pytest.mark.usefixtures("postgresql_only")
def test_one_reporter_racing_themselves(api: Api, cast: Cast, app: Any) -> None:
    """A double click, and a burst past the daily cap, on the real database: the duplicate
    check and the cap hold (the reporter's account row serialises their reports)."""
    gid = cast.group["id"]
    message = post(api, cast.member2, gid, "刷屏")

    def file(subject_id: int) -> Any:
        return api.post("/api/reports", as_=cast.member, json={
            "subject_type": "message", "subject_id": subject_id, "reason": "spam"})

    results = run_together(4, file, [message["id"]] * 4)
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409], [
        r.text for r in results]
    assert {error_code(r) for r in results if r.status_code == 409} == {"already_reported"}
    assert len(reports_of(app, cast.member.id)) == 1

    app.state.uows.settings.report_daily_cap = 3
    others = [post(api, cast.member2, gid, f"第{n}条")["id"] for n in range(5)]
    results = run_together(5, file, others)
    assert sorted(r.status_code for r in results) == [201, 201, 429, 429, 429], [
        r.text for r in results]
    assert len(reports_of(app, cast.member.id)) == 3
