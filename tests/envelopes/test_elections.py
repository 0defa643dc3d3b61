"""Election periods (PAY-3, PAY-4): officers declare them; envelopes in covered groups are
blocked, held for review (released or refused by a reviewer, no fen lost) or disclosed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from qunguan.enforcement.models import ReviewItem
from qunguan.envelopes.models import Envelope
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code, join_by_invitation, outbox_events
from tests.enforcement.review_helpers import drain, rows
from tests.envelopes.conftest import (
    assert_ledger_consistent,
    balance,
    claim,
    send,
    snapshot,
    topup,
)


def declare(api: Api, cast: Cast, clock: FixedClock, **body: Any) -> Any:
    now = clock.now()
    payload = {"name": "村委会换届选举", "scope": "group", "group_id": cast.group["id"],
               "starts_at": (now - timedelta(days=1)).isoformat(),
               "ends_at": (now + timedelta(days=10)).isoformat(),
               "vote_at": (now + timedelta(days=9)).isoformat(), **body}
    return api.post("/api/officer/elections", as_=cast.officer, json=payload)


def decide(api: Api, cast: Cast, item_id: int, decision: str) -> None:
    r = api.post(f"/api/officer/review/{item_id}/claim", as_=cast.officer)
    assert r.status_code == 200, r.text
    r = api.post(f"/api/officer/review/{item_id}/decide", as_=cast.officer,
                 json={"decision": decision, "reason": "经核查 checked against the rules"})
    assert r.status_code == 200, r.text


def test_officer_declares_an_election(api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    r = declare(api, cast, clock, policy="hold", candidate_ids=[cast.member.id],
                associates=[{"account_id": cast.member2.id, "candidate_id": cast.member.id}])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["policy"] == "hold"
    assert body["group_ids"] == [cast.group["id"]]
    assert {(p["account_id"], p["role"], p["candidate_id"]) for p in body["people"]} == {
        (cast.member.id, "candidate", None), (cast.member2.id, "associate", cast.member.id)}
    assert body["people"][0]["display_name"] == "成员丁"
    [record] = audit_records(app, EventType.ELECTION_DECLARED)
    assert record.acting_id == cast.officer.id
    assert record.extra["candidate_ids"] == [cast.member.id]
    [event] = outbox_events(app, EventType.ELECTION_DECLARED)
    assert event.group_id is None  # members are not told
    listed = api.get("/api/officer/elections", as_=cast.officer).json()
    assert [e["id"] for e in listed] == [body["id"]]
    r = api.post(f"/api/officer/elections/{body['id']}/cancel", as_=cast.officer,
                 json={"reason": "选举推迟 postponed"})
    assert r.status_code == 200, r.text
    assert r.json()["cancelled_at"] is not None
    [cancelled] = audit_records(app, EventType.ELECTION_CANCELLED)
    assert cancelled.extra["reason"] == "选举推迟 postponed"


def test_only_officers_declare(api: Api, cast: Cast, clock: FixedClock) -> None:
    now = clock.now()
    r = api.post("/api/officer/elections", as_=cast.founder, json={
        "name": "x", "scope": "group", "group_id": cast.group["id"],
        "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()})
    assert r.status_code == 403
    assert error_code(r) == "forbidden"


def test_bad_declarations_are_refused(api: Api, cast: Cast, clock: FixedClock) -> None:
    now = clock.now()
    cases = [
        ({"ends_at": (now - timedelta(days=2)).isoformat()}, "dates"),
        ({"vote_at": (now + timedelta(days=30)).isoformat()}, "vote_at"),
        ({"ends_at": (now + timedelta(days=400)).isoformat(), "vote_at": None}, "too_long"),
        ({"scope": "category"}, "scope_target"),
        ({"associates": [{"account_id": cast.member2.id, "candidate_id": cast.member.id}]},
         "associate_of"),
        ({"candidate_ids": [999_999]}, "unknown_account"),
    ]
    for body, problem in cases:
        r = declare(api, cast, clock, **body)
        assert r.status_code == 422, (body, r.text)
        assert error_code(r) == "election_invalid"
        assert r.json()["error"]["details"]["problem"] == problem
    r = declare(api, cast, clock, starts_at="2026-01-01T00:00:00")  # no time zone
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"


def test_block_policy_refuses_and_moves_nothing(api: Api, cast: Cast, app: Any,
                                                clock: FixedClock) -> None:
    topup(api, cast.founder, 10_000)
    assert declare(api, cast, clock, policy="block").status_code == 201
    before = snapshot(app)
    r = send(api, cast.founder, cast.group["id"], 1000, 2)
    assert r.status_code == 409
    assert error_code(r) == "envelope_election_blocked"
    details = r.json()["error"]["details"]
    assert details["policy"] == "block"
    assert details["ends_at"]
    assert snapshot(app) == before


def test_hold_then_release_by_a_reviewer(api: Api, cast: Cast, app: Any,
                                         clock: FixedClock) -> None:
    topup(api, cast.founder, 10_000)
    election = declare(api, cast, clock, policy="hold").json()
    r = send(api, cast.founder, cast.group["id"], 1000, 2)
    assert r.status_code == 201, r.text
    envelope = r.json()
    assert envelope["status"] == "held"
    assert envelope["hold_reason"].startswith("The election '村委会换届选举' (until ")
    # The same reason in natural Chinese, in China time, for the sender's page.
    assert envelope["hold_reason_zh"].startswith("选举“村委会换届选举”期间（截至 ")
    assert "（北京时间））" in envelope["hold_reason_zh"]
    assert envelope["hold_reason_zh"].endswith("本群红包须经审核后才能领取。")
    assert balance(app, cast.founder) == 9000  # in escrow, not lost
    r = claim(api, cast.member, envelope["id"])
    assert r.status_code == 409
    assert error_code(r) == "envelope_held"
    assert outbox_events(app, EventType.ENVELOPE_SENT) == []  # the group is not told yet
    [held] = audit_records(app, EventType.ENVELOPE_HELD)
    assert held.extra["election_id"] == election["id"]
    assert held.extra["reason"] == envelope["hold_reason"]  # English in the audit record
    drain(app)
    [item] = rows(app, ReviewItem, subject_type="envelope", subject_id=envelope["id"])
    assert item.rules[0]["rule"] == "election_hold"
    assert item.rules[0]["evidence"]["ledger"][0]["kind"] == "envelope_send"
    decide(api, cast, item.id, "dismiss")
    drain(app)
    [row] = rows(app, Envelope, id=envelope["id"])
    assert row.status == "open"
    assert audit_records(app, EventType.ENVELOPE_RELEASED)[0].acting_id == cast.officer.id
    assert outbox_events(app, EventType.ENVELOPE_RELEASED)[0].group_id == cast.group["id"]
    assert claim(api, cast.member, envelope["id"]).status_code == 200
    assert_ledger_consistent(app)


def test_hold_then_refuse_returns_every_fen(api: Api, cast: Cast, app: Any,
                                            clock: FixedClock) -> None:
    topup(api, cast.founder, 10_000)
    declare(api, cast, clock, policy="hold")
    envelope = send(api, cast.founder, cast.group["id"], 1000, 2).json()
    drain(app)
    [item] = rows(app, ReviewItem, subject_type="envelope", subject_id=envelope["id"])
    r = api.post(f"/api/officer/review/{item.id}/claim", as_=cast.officer)
    r = api.post(f"/api/officer/review/{item.id}/decide", as_=cast.officer,
                 json={"decision": "sanction", "reason": "vote buying",
                       "sanction": {"kind": "warning"}})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["problem"] == "envelope_sanction"
    decide(api, cast, item.id, "remove")
    drain(app)
    drain(app)  # a retried decision event changes nothing
    [row] = rows(app, Envelope, id=envelope["id"])
    assert row.status == "refused"
    assert row.refunded_fen == 1000
    assert balance(app, cast.founder) == 10_000
    [refused] = audit_records(app, EventType.ENVELOPE_REFUSED)
    assert refused.extra["amount_fen"] == 1000
    assert error_code(claim(api, cast.member, envelope["id"])) == "envelope_expired"
    assert_ledger_consistent(app)


def test_disclose_records_and_candidates_are_held(api: Api, cast: Cast, app: Any,
                                                  clock: FixedClock) -> None:
    topup(api, cast.founder, 10_000)
    topup(api, cast.member, 10_000)
    election = declare(api, cast, clock, policy="disclose",
                       candidate_ids=[cast.member.id]).json()
    r = send(api, cast.founder, cast.group["id"], 1000, 2)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "open"
    [sent] = audit_records(app, EventType.ENVELOPE_SENT)
    assert sent.extra["election_id"] == election["id"]
    assert sent.extra["election_policy"] == "disclose"
    r = send(api, cast.member, cast.group["id"], 1000, 2)
    assert r.json()["status"] == "held"
    assert "candidate" in r.json()["hold_reason"]
    assert r.json()["hold_reason_zh"] == ("您是选举“村委会换届选举”的候选人，您在相关群内发出的"
                                          "红包须经审核。")


def test_no_election_outside_its_dates(api: Api, cast: Cast, clock: FixedClock) -> None:
    topup(api, cast.founder, 10_000)
    now = clock.now()
    declare(api, cast, clock, policy="block", starts_at=(now + timedelta(days=2)).isoformat(),
            vote_at=None)
    assert send(api, cast.founder, cast.group["id"], 1000, 2).status_code == 201
    clock.advance(days=3)
    assert error_code(send(api, cast.founder, cast.group["id"], 1000, 2)) == \
        "envelope_election_blocked"


def _strict_group(api: Api, cast: Cast, category: str = "party_branch") -> dict[str, Any]:
    r = api.post("/api/groups", as_=cast.founder, json={"name": "第一党支部",
                                                         "category": category})
    assert r.status_code == 201, r.text
    group = dict(r.json())
    for key in ("member", "member2"):
        join_by_invitation(api, group, cast.founder, cast[key])
    return group


def test_strict_categories_are_capped_and_held(api: Api, cast: Cast, app: Any,
                                               clock: FixedClock) -> None:
    topup(api, cast.founder, 20_000)
    group = _strict_group(api, cast)
    r = send(api, cast.founder, group["id"], 6000, 2)
    assert r.status_code == 422
    assert error_code(r) == "envelope_over_limit"
    assert r.json()["error"]["details"]["reason"] == "category"
    # Declared "disclose", but a party branch is never below the strict policy (hold).
    now = clock.now()
    r = api.post("/api/officer/elections", as_=cast.officer, json={
        "name": "支部委员会换届", "scope": "category", "category": "party_branch",
        "policy": "disclose", "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=5)).isoformat()})
    assert r.status_code == 201, r.text
    assert r.json()["group_ids"] == [group["id"]]
    assert send(api, cast.founder, group["id"], 1000, 2).json()["status"] == "held"
    # The work group is not in the category: untouched.
    assert send(api, cast.founder, cast.group["id"], 1000, 2).json()["status"] == "open"


def test_org_unit_scope(api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    topup(api, cast.founder, 20_000)
    r = api.put(f"/api/officer/groups/{cast.group['id']}/org-unit", as_=cast.officer,
                json={"org_unit": "逍遥镇"})
    assert r.status_code == 200, r.text
    assert r.json()["org_unit"] == "逍遥镇"
    assert audit_records(app, EventType.GROUP_ORG_UNIT_SET)[0].extra["new"] == "逍遥镇"
    r = api.put(f"/api/officer/groups/{cast.group['id']}/org-unit", as_=cast.founder,
                json={"org_unit": "x"})
    assert r.status_code == 403
    assert declare(api, cast, clock, scope="org_unit", group_id=None, org_unit="逍遥镇",
                   policy="block").status_code == 201
    assert error_code(send(api, cast.founder, cast.group["id"], 1000, 2)) == \
        "envelope_election_blocked"


def fanout_of_three(app: Any, tmp_path: Any) -> None:
    """Thresholds under which 3 of the cast group's 5 members (60%, below the default share)
    make a fan-out; detection after the send only (see test_send_screening)."""
    path = tmp_path / "thresholds.json"
    path.write_text('{"fanout_min_recipients": 3, "fanout_min_total_fen": 1000, '
                    '"fanout_share": 0.6}')
    app.state.settings.votebuying_thresholds_file = path
    app.state.settings.votebuying_at_send = False


def test_detectors_alert_from_the_outbox_with_evidence(api: Api, cast: Cast, app: Any,
                                                       clock: FixedClock,
                                                       tmp_path: Any) -> None:
    from qunguan.envelopes.models import EnvelopeAlert

    fanout_of_three(app, tmp_path)
    topup(api, cast.founder, 10_000)
    declare(api, cast, clock, policy="disclose")
    envelope = send(api, cast.founder, cast.group["id"], 4000, 4, split="fixed").json()
    drain(app)
    assert rows(app, EnvelopeAlert) == []  # nobody has claimed yet
    for key in ("admin", "member", "member2"):
        assert claim(api, cast[key], envelope["id"]).status_code == 200
    drain(app)
    drain(app)
    [alert] = rows(app, EnvelopeAlert)
    assert alert.pattern == "fanout"
    assert alert.sender_id == cast.founder.id
    assert alert.envelope_ids == [envelope["id"]]
    names = {r["display_name"] for r in alert.evidence["recipients"]}
    assert names == {"管家丙", "成员丁", "成员戊"}
    kinds = [t["kind"] for t in alert.evidence["ledger"]]
    assert kinds == ["envelope_send"] + ["envelope_claim"] * 3
    assert alert.evidence["timing"]["vote_at"]
    [record] = audit_records(app, EventType.VOTEBUYING_ALERT)
    assert record.extra["pattern"] == "fanout"
    [item] = rows(app, ReviewItem, subject_type="account", subject_id=cast.founder.id)
    assert item.rules[0]["rule"] == "votebuying_fanout"
    assert item.rules[0]["alert_id"] == alert.id
    assert outbox_events(app, EventType.VOTEBUYING_ALERT)[0].group_id is None


def test_two_elections_over_a_group_give_officers_one_alert(api: Api, cast: Cast, app: Any,
                                                           clock: FixedClock,
                                                           tmp_path: Any) -> None:
    from qunguan.envelopes.models import EnvelopeAlert

    fanout_of_three(app, tmp_path)
    topup(api, cast.founder, 20_000)
    first = declare(api, cast, clock, policy="disclose").json()
    second = declare(api, cast, clock, name="党支部换届选举", policy="disclose").json()
    envelope = send(api, cast.founder, cast.group["id"], 4000, 4, split="fixed").json()
    for key in ("admin", "member", "member2"):
        assert claim(api, cast[key], envelope["id"]).status_code == 200
    drain(app)
    drain(app)
    # One alert (the lower election id's) naming the other election, one review item.
    [alert] = rows(app, EnvelopeAlert)
    assert (alert.pattern, alert.election_id) == ("fanout", first["id"])
    assert alert.evidence["details"]["also_elections"] == [second["id"]]
    assert "党支部换届选举" in alert.explanation
    assert len(rows(app, ReviewItem, subject_type="account", subject_id=cast.founder.id)) == 1
    # The first election postponed: the second alone finds the same envelope again, which
    # officers already have; a later call adds no alert.
    r = api.post(f"/api/officer/elections/{first['id']}/cancel", as_=cast.officer,
                 json={"reason": "选举推迟 postponed"})
    assert r.status_code == 200, r.text
    assert claim(api, cast.founder, envelope["id"]).status_code == 200  # the last part
    drain(app)
    drain(app)
    assert [a.id for a in rows(app, EnvelopeAlert)] == [alert.id]
    assert len(rows(app, ReviewItem, subject_type="account", subject_id=cast.founder.id)) == 1


def test_candidate_alert_and_no_alert_without_election(api: Api, cast: Cast, app: Any,
                                                       clock: FixedClock) -> None:
    from qunguan.envelopes.models import EnvelopeAlert

    topup(api, cast.member, 10_000)
    send(api, cast.member, cast.group["id"], 1000, 2)
    drain(app)
    assert rows(app, EnvelopeAlert) == []
    declare(api, cast, clock, policy="disclose", candidate_ids=[cast.member.id])
    assert send(api, cast.member, cast.group["id"], 1000, 2).json()["status"] == "held"
    drain(app)
    [alert] = rows(app, EnvelopeAlert)
    assert alert.pattern == "candidate"
    assert "candidate" in alert.explanation


def test_the_chinese_reason_reads_beijing_time() -> None:
    from datetime import UTC, datetime

    from qunguan.envelopes.actions import _china_time

    # 20:00 UTC is 04:00 the next day in Beijing (UTC+8 all year).
    assert _china_time(datetime(2026, 11, 30, 20, 0, tzinfo=UTC)) == \
        "2026年12月1日 04:00（北京时间）"
