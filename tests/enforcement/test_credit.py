"""Credit (EC-1, EC-7): explainable, decaying, gating features, never sanctioning anyone."""

from __future__ import annotations

from typing import Any

from qunguan.enforcement import credit
from qunguan.enforcement.models import Sanction, SubjectType
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, login
from tests.enforcement.sanction_helpers import credit_score, impose


def test_score_is_explained_and_decays(api: Api, cast: Cast, clock: FixedClock) -> None:
    assert credit_score(api, cast.member) == 100
    sanction = impose(api, cast.officer, cast.member, "warning")
    r = api.get("/api/me/credit", as_=cast.member)
    body = r.json()
    assert body["score"] == 95
    assert body["base"] == 100
    assert body["half_life_days"] == 180
    [c] = body["contributions"]
    assert (c["cause"], c["delta"], c["decayed"], c["sanction_id"], c["note"]) == \
        ("sanction", -5, -5.0, sanction["id"], "warning")
    clock.advance(days=180)  # one half-life: the warning weighs half
    for person in (cast.member, cast.member2, cast.officer):  # their tokens have expired
        login(api, person)
    body = api.get("/api/me/credit", as_=cast.member).json()
    assert body["contributions"][0]["decayed"] == -2.5
    assert body["score"] == 98  # 97.5 rounded half to even
    clock.advance(days=180 * 10)
    for person in (cast.member, cast.member2, cast.officer):
        login(api, person)
    assert credit_score(api, cast.member) == 100
    # Officers read anyone's; others are untouched.
    r = api.get(f"/api/officer/credit/account/{cast.member.id}", as_=cast.officer)
    assert r.status_code == 200
    assert r.json()["subject_id"] == cast.member.id
    assert credit_score(api, cast.member2) == 100


def test_group_credit_and_unknown_subjects(api: Api, cast: Cast) -> None:
    gid = cast.group["id"]
    impose(api, cast.officer, gid, "group_warning", subject_type="group")
    r = api.get(f"/api/officer/credit/group/{gid}", as_=cast.officer)
    assert r.json()["score"] == 90
    assert credit_score(api, cast.founder) == 100  # the group's credit is the group's
    for path in ("/api/officer/credit/group/987654", "/api/officer/credit/account/987654"):
        r = api.get(path, as_=cast.officer)
        assert r.status_code == 404, r.text
    r = api.get("/api/officer/credit/message/1", as_=cast.officer)
    assert r.status_code == 422
    r = api.get(f"/api/officer/credit/account/{cast.member.id}", as_=cast.member)
    assert r.status_code == 403


def test_large_groups_need_credit(api: Api, cast: Cast, app: Any) -> None:
    """EC-1: founding a group of more than 200 members needs credit >= 90."""
    sanction = impose(api, cast.officer, cast.member, "suspend", duration_seconds=3600,
                      skip_warning_reason="公开威胁他人")
    r = api.post(f"/api/officer/sanctions/{sanction['id']}/lift", as_=cast.officer,
                 json={"reason": "已整改"})
    assert r.status_code == 200
    assert credit_score(api, cast.member) == 70  # lifting ends it; it does not undo it
    r = api.post("/api/groups", as_=cast.member,
                 json={"name": "全校通知群", "category": "work", "member_cap": 500})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "credit_too_low"
    assert r.json()["error"]["details"]["required"] == 90
    assert r.json()["error"]["details"]["score"] == 70
    r = api.post("/api/groups", as_=cast.member,
                 json={"name": "小组讨论", "category": "work", "member_cap": 200})
    assert r.status_code == 201, r.text
    # The low score took nothing away by itself: no sanction beyond the officer's one.
    assert len(audit_records(app, EventType.SANCTION_IMPOSED)) == 1


def test_upheld_reports_count_once(app: Any, cast: Cast) -> None:
    uow = app.state.uows()
    try:
        for _ in range(2):  # a retried decision must not lower the score twice
            credit.record_upheld_report(uow, subject_type=SubjectType.ACCOUNT,
                                        subject_id=cast.member.id, review_item_id=42)
        uow.session.flush()
        explanation = credit.explain(uow, SubjectType.ACCOUNT, cast.member.id)
        assert explanation.score == 95
        assert [(c.cause, c.review_item_id) for c in explanation.contributions] == \
            [("report_upheld", 42)]
        assert credit.reverse_contributions(uow, review_item_id=42) == 1
        assert credit.explain(uow, SubjectType.ACCOUNT, cast.member.id).score == 100
        assert uow.session.query(Sanction).count() == 0
    finally:
        uow.rollback()
        uow.close()
