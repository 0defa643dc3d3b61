"""Dual-control unmasking (CR-7, PI-3, PI-4): a request with a reason and a case, approval by
a different officer, one read by the requester within the window, every step audited, the
vault read logged, the unit's list; the same flow for a rumour cascade's first originator."""

from __future__ import annotations

from typing import Any

from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.enforcement.review_helpers import second_officer
from tests.governance.helpers import drain, later, open_case, post


def request(api: Api, cast: Cast, case_id: int, status: int = 201, **target: Any) -> Any:
    r = api.post("/api/officer/unmaskings", as_=cast.officer,
                 json={"case_id": case_id, "reason": "纪检调查 2026-17 号", **target})
    assert r.status_code == status, r.text
    return r.json() if status < 400 else r


def a_case(api: Api, app: Any, cast: Cast) -> int:
    msg = post(api, cast.member, cast.group["id"], "需要核查的消息")
    return open_case(api, app, cast, msg["id"])


def test_request_approve_reveal_once(api: Api, app: Any, cast: Cast) -> None:
    case_id = a_case(api, app, cast)
    officer2 = second_officer(app, cast)
    req = request(api, cast, case_id, account_id=cast.member.id)
    assert req["status"] == "pending"
    assert req["basis"] == "account"
    assert req["requested_by"] == cast.officer.id
    # Not before approval.
    r = api.post(f"/api/officer/unmaskings/{req['id']}/reveal", as_=cast.officer)
    assert r.status_code == 409
    assert error_code(r) == "unmask_not_approved"
    # The requester cannot approve their own request.
    r = api.post(f"/api/officer/unmaskings/{req['id']}/approve", as_=cast.officer, json={})
    assert r.status_code == 403
    assert error_code(r) == "same_officer"
    r = api.post(f"/api/officer/unmaskings/{req['id']}/approve", as_=officer2,
                 json={"note": "同意，限本案使用"})
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["status"] == "approved"
    assert approved["decided_by"] == officer2.id
    assert approved["reveal_until"] is not None
    # The approver may not read it: only the requester.
    r = api.post(f"/api/officer/unmaskings/{req['id']}/reveal", as_=officer2)
    assert r.status_code == 404
    r = api.post(f"/api/officer/unmaskings/{req['id']}/reveal", as_=cast.officer)
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["legal_name"] == cast.member.legal_name
    assert shown["id_number"] == cast.member.id_number
    assert shown["account_id"] == cast.member.id
    # Once.
    r = api.post(f"/api/officer/unmaskings/{req['id']}/reveal", as_=cast.officer)
    assert r.status_code == 409
    assert error_code(r) == "already_revealed"
    # Every step is an audit record; the vault read is logged with the request reference.
    (asked,) = audit_records(app, EventType.UNMASK_REQUESTED)
    assert asked.acting_id == cast.officer.id
    assert asked.extra["case_id"] == case_id
    assert asked.extra["reason"] == "纪检调查 2026-17 号"
    (ok,) = audit_records(app, EventType.UNMASK_APPROVED)
    assert ok.acting_id == officer2.id
    (revealed,) = audit_records(app, EventType.UNMASK_REVEALED)
    assert revealed.acting_id == cast.officer.id
    assert revealed.extra["approved_by"] == officer2.id
    read = [r for r in audit_records(app, EventType.VAULT_READ)
            if r.extra["request_ref"] == f"unmask-request-{req['id']}"]
    assert len(read) == 1
    assert read[0].acting_id == cast.officer.id
    assert f"case {case_id}" in read[0].extra["purpose"]
    for type_ in (EventType.UNMASK_REQUESTED, EventType.UNMASK_APPROVED,
                  EventType.UNMASK_REVEALED):
        assert outbox_events(app, type_)
    # No record holds the identity itself.
    for rec in (asked, ok, revealed, *read):
        assert cast.member.legal_name not in str(rec.extra)
        assert str(cast.member.id_number) not in str(rec.extra)


def test_reveal_window_passes(api: Api, app: Any, cast: Cast, clock: FixedClock) -> None:
    case_id = a_case(api, app, cast)
    officer2 = second_officer(app, cast)
    req = request(api, cast, case_id, account_id=cast.member.id)
    r = api.post(f"/api/officer/unmaskings/{req['id']}/approve", as_=officer2, json={})
    assert r.status_code == 200
    clock.advance(minutes=31)
    r = api.post(f"/api/officer/unmaskings/{req['id']}/reveal", as_=cast.officer)
    assert r.status_code == 409
    assert error_code(r) == "reveal_window_passed"
    assert not audit_records(app, EventType.UNMASK_REVEALED)
    assert not [r for r in audit_records(app, EventType.VAULT_READ)
                if r.extra["request_ref"].startswith("unmask-request-")]


def test_rejected_request_reveals_nothing(api: Api, app: Any, cast: Cast) -> None:
    case_id = a_case(api, app, cast)
    officer2 = second_officer(app, cast)
    req = request(api, cast, case_id, account_id=cast.member.id)
    r = api.post(f"/api/officer/unmaskings/{req['id']}/reject", as_=cast.officer,
                 json={"note": "自己驳回"})
    assert r.status_code == 403
    assert error_code(r) == "same_officer"
    r = api.post(f"/api/officer/unmaskings/{req['id']}/reject", as_=officer2,
                 json={"note": "与本案无关"})
    assert r.status_code == 200
    assert r.json()["status"] == "rejected"
    r = api.post(f"/api/officer/unmaskings/{req['id']}/approve", as_=officer2, json={})
    assert r.status_code == 409
    assert error_code(r) == "unmask_decided"
    r = api.post(f"/api/officer/unmaskings/{req['id']}/reveal", as_=cast.officer)
    assert r.status_code == 409
    assert error_code(r) == "unmask_not_approved"
    (rejected,) = audit_records(app, EventType.UNMASK_REJECTED)
    assert rejected.extra["note"] == "与本案无关"


def test_request_needs_a_case_a_reason_and_a_sealed_identity(api: Api, app: Any,
                                                             cast: Cast) -> None:
    case_id = a_case(api, app, cast)
    r = request(api, cast, 987654, status=404, account_id=cast.member.id)
    assert error_code(r) == "not_found"
    r = api.post("/api/officer/unmaskings", as_=cast.officer,
                 json={"case_id": case_id, "reason": "  ", "account_id": cast.member.id})
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    r = request(api, cast, case_id, status=422)  # neither an account nor a cluster
    assert error_code(r) == "invalid_request"
    r = request(api, cast, case_id, status=422, account_id=cast.member.id, cluster_id=1)
    assert error_code(r) == "invalid_request"
    r = request(api, cast, case_id, status=409, account_id=cast.newcomer.id)  # unverified
    assert error_code(r) == "no_sealed_identity"
    r = request(api, cast, case_id, status=404, account_id=987654)
    assert error_code(r) == "not_found"
    r = api.post("/api/officer/unmaskings", as_=cast.member,
                 json={"case_id": case_id, "reason": "好奇", "account_id": cast.member2.id})
    assert r.status_code == 403
    assert not audit_records(app, EventType.UNMASK_REQUESTED)


def test_cascade_originator_is_unmasked_through_the_same_flow(api: Api, app: Any,
                                                              cast: Cast) -> None:
    gid = cast.group["id"]
    first = post(api, cast.member2, gid, "紧急通知：明天全市停水三天，大家赶紧囤水")
    drain(app)
    r = api.post(f"/api/messages/{first['id']}/forward", as_=cast.member,
                 json={"group_ids": [gid], "confirm": True})
    assert r.status_code == 201, r.text
    drain(app)
    clusters = api.get("/api/officer/clusters", as_=cast.officer).json()["items"]
    cluster = next(c for c in clusters if c["messages"] >= 2)
    case_id = open_case(api, app, cast, r.json()[0]["id"])
    officer2 = second_officer(app, cast)
    req = request(api, cast, case_id, cluster_id=cluster["id"])
    assert req["basis"] == "cascade_originator"
    assert req["account_id"] == cast.member2.id  # the first sender, not the forwarder
    assert req["cluster_id"] == cluster["id"]
    api.post(f"/api/officer/unmaskings/{req['id']}/approve", as_=officer2, json={})
    r = api.post(f"/api/officer/unmaskings/{req['id']}/reveal", as_=cast.officer)
    assert r.status_code == 200
    assert r.json()["legal_name"] == cast.member2.legal_name
    r = request(api, cast, case_id, status=404, cluster_id=987654)
    assert error_code(r) == "not_found"


def test_officers_list_every_unmasking_of_the_unit(api: Api, app: Any, cast: Cast,
                                                   clock: FixedClock) -> None:
    case_id = a_case(api, app, cast)
    officer2 = second_officer(app, cast)
    one = request(api, cast, case_id, account_id=cast.member.id)
    r = api.post("/api/officer/unmaskings", as_=officer2,
                 json={"case_id": case_id, "reason": "复核", "account_id": cast.member2.id})
    two = r.json()
    listed = api.get("/api/officer/unmaskings", as_=officer2).json()
    assert [u["id"] for u in listed] == [two["id"], one["id"]]
    assert listed[1]["requested_by"] == cast.officer.id
    assert api.get("/api/officer/unmaskings", as_=cast.member).status_code == 403
    # The list never carries the identity.
    text = api.get("/api/officer/unmaskings", as_=cast.officer).text
    assert cast.member.legal_name not in text
    later(api, cast, clock, 1)
    assert api.get("/api/officer/unmaskings", as_=cast.officer).status_code == 200


def test_two_approvers_at_once_decide_once(api: Api, app: Any, cast: Cast,
                                           postgresql_only: None) -> None:
    from tests.conftest import make_officer
    from tests.enforcement.review_helpers import run_together

    case_id = a_case(api, app, cast)
    make_officer(app, cast.outsider)
    make_officer(app, cast.admin)
    req = request(api, cast, case_id, account_id=cast.member.id)
    results = run_together(2, lambda who: api.post(
        f"/api/officer/unmaskings/{req['id']}/approve", as_=who, json={}).status_code,
        [cast.outsider, cast.admin])
    assert sorted(results) == [200, 409]
    assert len(audit_records(app, EventType.UNMASK_APPROVED)) == 1
