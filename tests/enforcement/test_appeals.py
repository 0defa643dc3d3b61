"""Appeals (AT-2): once per statement, within the window, decided by a second officer;
overturning lifts the sanction and restores the credit."""

from __future__ import annotations

from typing import Any

from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.cast import Person
from tests.conftest import Api, Cast, audit_records, login, outbox_events
from tests.enforcement.sanction_helpers import credit_score, impose, second_officer, statement_of

DAY = 24 * 3600


def _appeal(api: Api, person: Person, statement_id: int, text: str = "我转发的是官方通知") -> Any:
    return api.post(f"/api/me/statements/{statement_id}/appeal", as_=person,
                    json={"text": text})


def _decide(api: Api, officer: Person, appeal_id: int, outcome: str,
            reason: str = "经复核，转发内容属实") -> Any:
    return api.post(f"/api/officer/appeals/{appeal_id}/decide", as_=officer,
                    json={"outcome": outcome, "reason": reason})


def _code(r: Any) -> str:
    return str(r.json()["error"]["code"])


def test_four_eyes_overturn_lifts_and_restores(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    message = api.post(f"/api/groups/{gid}/messages", as_=cast.founder,
                       json={"text": "周五下午三点开会"}).json()
    sanction = impose(api, cast.officer, cast.member, "restrict", functions=["forward"],
                      duration_seconds=30 * DAY)
    assert credit_score(api, cast.member) == 90
    statement = statement_of(api, cast.member, sanction["id"])

    r = _appeal(api, cast.member, statement["id"])
    assert r.status_code == 201, r.text
    appeal = r.json()
    assert appeal["status"] == "open"
    assert appeal["statement_id"] == statement["id"]
    [filed] = audit_records(app, EventType.APPEAL_FILED)
    assert filed.acting_id == cast.member.id
    assert filed.extra["appeal_id"] == appeal["id"]
    assert filed.extra["sanction_id"] == sanction["id"]
    assert api.get(f"/api/me/statements/{statement['id']}",
                   as_=cast.member).json()["appeal"]["id"] == appeal["id"]

    # The officer who imposed it may not decide the appeal.
    r = _decide(api, cast.officer, appeal["id"], "overturned")
    assert r.status_code == 403
    assert _code(r) == "own_decision"
    assert audit_records(app, EventType.APPEAL_DECIDED) == []

    officer2 = second_officer(api, app)
    listed = api.get("/api/officer/appeals", as_=officer2).json()
    assert [a["id"] for a in listed] == [appeal["id"]]
    assert listed[0]["original_decider"] == cast.officer.id
    r = _decide(api, officer2, appeal["id"], "overturned")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "overturned"
    assert r.json()["decided_by"] == officer2.id

    [decided] = audit_records(app, EventType.APPEAL_DECIDED)
    assert decided.acting_id == officer2.id
    assert decided.extra["outcome"] == "overturned"
    assert decided.extra["original_decider"] == cast.officer.id
    [event] = outbox_events(app, EventType.APPEAL_DECIDED)
    assert event.payload["account_ids"] == [cast.member.id]
    assert event.payload["outcome"] == "overturned"
    [lifted] = audit_records(app, EventType.SANCTION_LIFTED)
    assert lifted.acting_id == officer2.id
    assert lifted.extra["overturned"] is True
    assert lifted.extra["credit_reversed"] == 1

    [mine] = api.get("/api/me/sanctions", as_=cast.member).json()
    assert mine["active"] is False
    assert mine["overturned_at"] is not None
    assert credit_score(api, cast.member) == 100
    contribution = api.get("/api/me/credit", as_=cast.member).json()["contributions"][0]
    assert contribution["reversed_at"] is not None
    assert contribution["decayed"] == 0
    r = api.post(f"/api/messages/{message['id']}/forward", as_=cast.member,
                 json={"group_ids": [gid]})
    assert r.status_code == 201, r.text
    # An overturned rung does not count: the ladder starts again at a warning.
    r = api.get("/api/officer/sanctions/next-step", as_=cast.officer,
                params={"subject_type": "account", "subject_id": cast.member.id})
    assert r.json()["kind"] == "warning"

    r = _decide(api, officer2, appeal["id"], "upheld")
    assert r.status_code == 409
    assert _code(r) == "appeal_decided"


def test_upheld_appeal_changes_nothing(api: Api, cast: Cast, app: Any) -> None:
    officer2 = second_officer(api, app)
    sanction = impose(api, officer2, cast.member, "warning")
    statement = statement_of(api, cast.member, sanction["id"])
    appeal = _appeal(api, cast.member, statement["id"]).json()
    r = _decide(api, cast.officer, appeal["id"], "upheld", "记录属实，维持原决定")
    assert r.status_code == 200
    assert r.json()["decision_reason"] == "记录属实，维持原决定"
    assert credit_score(api, cast.member) == 95
    assert audit_records(app, EventType.SANCTION_LIFTED) == []
    [event] = outbox_events(app, EventType.APPEAL_DECIDED)
    assert event.payload["outcome"] == "upheld"
    assert event.payload["reason"] == "记录属实，维持原决定"


def test_appeal_errors(api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    first = impose(api, cast.officer, cast.member, "warning")
    statement = statement_of(api, cast.member, first["id"])
    for person in (cast.member2, cast.officer):  # someone else's statement: not found
        r = _appeal(api, person, statement["id"])
        assert r.status_code == 404
        assert _code(r) == "not_found"
    r = _appeal(api, cast.member, statement["id"], "   ")
    assert r.status_code == 422
    assert _appeal(api, cast.member, statement["id"]).status_code == 201
    r = _appeal(api, cast.member, statement["id"])
    assert r.status_code == 409
    assert _code(r) == "already_appealed"
    assert len(audit_records(app, EventType.APPEAL_FILED)) == 1

    late = impose(api, cast.officer, cast.member2, "warning")
    late_statement = statement_of(api, cast.member2, late["id"])
    clock.advance(days=180)
    for person in (cast.member2, cast.officer):  # tokens live a week
        login(api, person)
    assert _appeal(api, cast.member2, late_statement["id"]).status_code == 201  # last day
    other = impose(api, cast.officer, cast.member2, "warning", reason="再次刷屏")
    other_statement = statement_of(api, cast.member2, other["id"])
    clock.advance(days=180, seconds=1)
    for person in (cast.member, cast.member2, cast.officer):
        login(api, person)
    r = _appeal(api, cast.member2, other_statement["id"])
    assert r.status_code == 409
    assert _code(r) == "appeal_window_passed"
    assert r.json()["error"]["details"]["deadline"] == other_statement["appeal_deadline"] \
        .replace("Z", "+00:00")

    r = api.get("/api/officer/appeals", as_=cast.member)
    assert r.status_code == 403
    r = _decide(api, cast.member, 1, "overturned")
    assert r.status_code == 403
    assert _code(r) == "forbidden"
    r = _decide(api, cast.officer, 987654, "overturned")
    assert r.status_code == 404


def test_open_appeals_come_first(api: Api, cast: Cast, app: Any) -> None:
    officer2 = second_officer(api, app)
    ids = []
    for person in (cast.member, cast.member2):
        sanction = impose(api, officer2, person, "warning")
        statement = statement_of(api, person, sanction["id"])
        ids.append(_appeal(api, person, statement["id"]).json()["id"])
    assert _decide(api, cast.officer, ids[0], "upheld").status_code == 200
    listed = api.get("/api/officer/appeals", as_=cast.officer).json()
    assert [(a["id"], a["status"]) for a in listed] == [(ids[1], "open"), (ids[0], "upheld")]
    only_open = api.get("/api/officer/appeals", as_=cast.officer, params={"status": "open"})
    assert [a["id"] for a in only_open.json()] == [ids[1]]


def test_overturned_blacklist_frees_the_identity(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    sanction = impose(api, cast.officer, cast.member, "blacklist",
                      skip_warning_reason="冒用他人身份")
    statement = statement_of(api, cast.member, sanction["id"])
    appeal = _appeal(api, cast.member, statement["id"], "本人实名，可提供证明").json()
    officer2 = second_officer(api, app)
    assert _decide(api, officer2, appeal["id"], "overturned").status_code == 200
    [record] = audit_records(app, EventType.BLACKLIST_LIFTED)
    assert record.subject_id == str(cast.member.id)
    assert record.acting_id == officer2.id
    r = api.post(f"/api/groups/{gid}/messages", as_=cast.member, json={"text": "谢谢复核"})
    assert r.status_code == 201, r.text
    assert credit_score(api, cast.member) == 100


def test_an_officer_cannot_decide_their_own_appeal(api: Api, cast: Cast, app: Any) -> None:
    """B1: an officer sanctioned like anyone else appeals; they may not decide it."""
    officer2 = second_officer(api, app)
    sanction = impose(api, officer2, cast.officer, "warning", reason="值班期间刷屏")
    statement = statement_of(api, cast.officer, sanction["id"])
    appeal = _appeal(api, cast.officer, statement["id"], "当时在转发值班通知").json()
    r = _decide(api, cast.officer, appeal["id"], "overturned")
    assert (r.status_code, _code(r)) == (403, "own_decision")
    r = _decide(api, officer2, appeal["id"], "overturned")  # nor may the one who imposed it
    assert (r.status_code, _code(r)) == (403, "own_decision")
    assert audit_records(app, EventType.APPEAL_DECIDED) == []
    assert credit_score(api, cast.officer) == 95
    officer3 = second_officer(api, app, "officer3")
    assert _decide(api, officer3, appeal["id"], "overturned").status_code == 200
    [decided] = audit_records(app, EventType.APPEAL_DECIDED)
    assert decided.acting_id == officer3.id
    assert credit_score(api, cast.officer) == 100


def test_the_purging_officer_cannot_decide_the_appeal(api: Api, cast: Cast, app: Any) -> None:
    """B2: a purge statement names no sanction and no review item; the statement records who
    decided, so the four-eyes rule still holds."""
    gid = cast.group["id"]
    message = api.post(f"/api/groups/{gid}/messages", as_=cast.member,
                       json={"text": "紧急通知：明天全市停水，速转！", "confirm": True}).json()
    r = api.post("/api/officer/emergency/purge", as_=cast.officer,
                 json={"message_id": message["id"], "reason": "不实信息，全网删除"})
    assert r.status_code == 200, r.text
    [statement] = api.get("/api/me/statements", as_=cast.member).json()
    assert statement["measure"] == "message_removed"
    assert (statement["sanction_id"], statement["review_item_id"]) == (None, None)
    [issued] = audit_records(app, EventType.STATEMENT_ISSUED)
    assert issued.extra["decided_by"] == cast.officer.id
    appeal = _appeal(api, cast.member, statement["id"], "我转发的是自来水公司的通知").json()
    r = _decide(api, cast.officer, appeal["id"], "overturned")
    assert (r.status_code, _code(r)) == (403, "own_decision")
    assert audit_records(app, EventType.APPEAL_DECIDED) == []
    officer2 = second_officer(api, app)
    listed = api.get("/api/officer/appeals", as_=officer2).json()
    assert listed[0]["original_decider"] == cast.officer.id
    r = _decide(api, officer2, appeal["id"], "upheld", "经核实为不实信息")
    assert r.status_code == 200, r.text


def test_a_hold_is_not_appealable(api: Api, cast: Cast, app: Any, hold_on: Any) -> None:
    """B5: the review decides a hold; its statement says so and refuses an appeal."""
    from tests.enforcement.review_helpers import drain, post

    hold_on("待审")
    post(api, cast.member, cast.group["id"], "待审：周五团建")
    drain(app)
    [statement] = api.get("/api/me/statements", as_=cast.member).json()
    assert statement["measure"] == "message_held"
    assert "cannot be appealed" in statement["redress"]
    assert "不可申诉" in statement["redress"]
    [issued] = audit_records(app, EventType.STATEMENT_ISSUED)
    assert issued.extra["decided_by"] is None  # automation held it; nobody decided yet
    r = _appeal(api, cast.member, statement["id"])
    assert (r.status_code, _code(r)) == (409, "not_appealable")
    assert audit_records(app, EventType.APPEAL_FILED) == []


def test_overturning_only_the_removal_keeps_the_sanction(api: Api, cast: Cast,
                                                         app: Any) -> None:
    """B3: a review removed a reported message and warned its sender; the appeal overturns
    the removal only. The report's credit comes back, the warning's does not."""
    from tests.enforcement.review_helpers import claim, decide, items, post, report

    gid = cast.group["id"]
    message = post(api, cast.member, gid, "低价代办各类证件，私聊")
    report(api, cast.member2, "message", message["id"], reason="fraud")
    [item] = items(app)
    claim(api, cast.officer, item.id)
    decide(api, cast.officer, item.id, "sanction", reason="发布代办证件广告",
           sanction={"kind": "warning"})
    assert credit_score(api, cast.member) == 90  # -5 upheld report, -5 warning
    removal = next(s for s in api.get("/api/me/statements", as_=cast.member).json()
                   if s["measure"] == "message_removed")
    appeal = _appeal(api, cast.member, removal["id"], "这是单位统一代办的通知").json()
    officer2 = second_officer(api, app)
    assert _decide(api, officer2, appeal["id"], "overturned").status_code == 200

    assert credit_score(api, cast.member) == 95  # the warning still counts
    causes = {(c["cause"], c["reversed_at"] is not None)
              for c in api.get("/api/me/credit", as_=cast.member).json()["contributions"]}
    assert causes == {("report_upheld", True), ("sanction", False)}
    assert audit_records(app, EventType.SANCTION_LIFTED) == []
    [decided] = audit_records(app, EventType.APPEAL_DECIDED)
    assert decided.extra["message_restored"] is True
    r = api.get("/api/officer/sanctions", as_=officer2,
                params={"subject_type": "account", "subject_id": cast.member.id})
    [warning] = r.json()
    assert warning["overturned_at"] is None


def test_an_appeal_decision_may_not_quote_personal_data(api: Api, cast: Cast,
                                                        app: Any) -> None:
    """P2: the decision reason goes to the appellant and into the lift reason."""
    sanction = impose(api, cast.officer, cast.member, "warning")
    statement = statement_of(api, cast.member, sanction["id"])
    appeal = _appeal(api, cast.member, statement["id"]).json()
    officer2 = second_officer(api, app)
    r = _decide(api, officer2, appeal["id"], "overturned", "已致电 13712345678 核实")
    assert (r.status_code, _code(r)) == (422, "reason_has_personal_data")
    assert audit_records(app, EventType.APPEAL_DECIDED) == []
    assert _decide(api, officer2, appeal["id"], "overturned", "已电话核实").status_code == 200
