"""Statements of reasons (AT-1): measure, scope, duration, facts, rule, automation, redress."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from qunguan.config import Settings
from qunguan.enforcement.statements import issue_statement
from qunguan.identity import queries as identity_queries
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, outbox_events
from tests.enforcement.sanction_helpers import impose, statement_of


def test_every_sanction_explains_itself(api: Api, cast: Cast, app: Any,
                                        clock: FixedClock) -> None:
    gid = cast.group["id"]
    sanction = impose(api, cast.officer, cast.member, "mute", group_id=gid,
                      duration_seconds=3600, rule="harassment.insult",
                      reason="在群内辱骂其他成员")
    statement = statement_of(api, cast.member, sanction["id"])
    now = clock.now()
    assert statement["measure"] == "mute"
    assert statement["facts"] == "在群内辱骂其他成员"
    assert statement["rule"] == "harassment.insult"
    assert statement["automated"] is False
    assert f"group #{gid}" in statement["scope"]
    assert "post" in statement["scope"]
    assert datetime.fromisoformat(statement["starts_at"]) == now
    assert datetime.fromisoformat(statement["ends_at"]) == now + timedelta(hours=1)
    deadline = now + timedelta(days=180)
    assert datetime.fromisoformat(statement["appeal_deadline"]) == deadline
    # The exact moment, as appeal_deadline says it, not a day that could be misread.
    assert deadline.isoformat(timespec="seconds") in statement["redress"]
    assert statement["group_id"] == gid
    assert statement["appeal"] is None

    [record] = audit_records(app, EventType.STATEMENT_ISSUED)
    assert record.subject_id == str(cast.member.id)
    assert record.acting_id == cast.officer.id
    assert record.extra["statement_id"] == statement["id"]
    assert record.extra["sanction_id"] == sanction["id"]
    assert record.extra["decided_by"] == cast.officer.id
    [event] = outbox_events(app, EventType.STATEMENT_ISSUED)
    assert event.payload["account_ids"] == [cast.member.id]
    assert event.group_id is None

    r = api.get(f"/api/me/statements/{statement['id']}", as_=cast.member)
    assert r.status_code == 200
    assert r.json()["id"] == statement["id"]
    for person in (cast.member2, cast.founder, cast.officer):  # one's own only
        r = api.get(f"/api/me/statements/{statement['id']}", as_=person)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    assert api.get("/api/me/statements", as_=cast.member2).json() == []


def test_group_sanction_statement_goes_to_the_founder(api: Api, cast: Cast) -> None:
    gid = cast.group["id"]
    sanction = impose(api, cast.officer, gid, "group_warning", subject_type="group",
                      reason="群内频繁出现刷屏广告")
    statement = statement_of(api, cast.founder, sanction["id"])
    assert statement["measure"] == "group_warning"
    assert statement["group_id"] == gid
    assert api.get("/api/me/statements", as_=cast.member).json() == []
    r = api.get("/api/me/sanctions", as_=cast.founder)
    assert [s["id"] for s in r.json()] == [sanction["id"]]


def test_message_measures_get_statements_too(app: Any, api: Api, cast: Cast) -> None:
    """The review queue calls issue_statement for a held or removed message; automation
    says so."""
    uow = app.state.uows()
    try:
        system = identity_queries.system_account(uow)
        row = issue_statement(uow, acting=system, account_id=cast.member.id,
                              measure="message_held", facts="消息包含疑似身份证号码",
                              scope=f"group #{cast.group['id']}", rule="pii.resident_id",
                              automated=True, starts_at=uow.now(), ends_at=None,
                              message_id=None, group_id=cast.group["id"])
        uow.commit()
        statement_id = row.id
    finally:
        uow.close()
    [statement] = api.get("/api/me/statements", as_=cast.member).json()
    assert statement["id"] == statement_id
    assert statement["automated"] is True
    assert statement["rule"] == "pii.resident_id"
    [record] = audit_records(app, EventType.STATEMENT_ISSUED)
    assert record.extra["automated"] is True
    assert record.extra["measure"] == "message_held"
    assert record.extra["decided_by"] is None  # automation decided nothing but the hold


def test_the_appeal_window_is_at_least_six_months() -> None:
    """AT-2: a shorter window is refused when the settings load."""
    with pytest.raises(ValidationError):
        Settings(appeal_window_days=179)
    assert Settings(appeal_window_days=180).appeal_window_days == 180


def test_a_removal_reason_may_not_quote_personal_data(api: Api, cast: Cast, app: Any) -> None:
    """P2: a review decision's reason becomes the facts of the removal statement."""
    from tests.cast import resident_id
    from tests.enforcement.review_helpers import claim, decide, items, post, report

    message = post(api, cast.member, cast.group["id"], "低价代办各类证件，私聊")
    report(api, cast.member2, "message", message["id"], reason="fraud")
    [item] = items(app)
    claim(api, cast.officer, item.id)
    someone = resident_id("320102", "19900315", "456")  # invented, nobody in the cast
    r = decide(api, cast.officer, item.id, "remove", reason=f"冒用 {someone} 办证",
               status=422)
    assert r["error"]["code"] == "reason_has_personal_data"
    assert audit_records(app, EventType.MESSAGE_REMOVED) == []
    assert audit_records(app, EventType.REVIEW_ITEM_DECIDED) == []
    [item] = items(app)
    assert item.status == "open"
