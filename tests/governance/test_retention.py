"""Retention (LR-1, LR-7) and legal hold (LR-6): the purge worker, holds on a case, a group
and an account, regulated archive mode, and the retention report."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from qunguan.app import create_app
from qunguan.cli.main import app as cli
from qunguan.config import Settings
from qunguan.governance.models import LegalHold, PurgedContent
from qunguan.identity.models import AuthToken, LoginAttempt
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from qunguan.kernel.models import OutboxEvent
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.governance.helpers import (
    decided_case,
    drain,
    later,
    post,
    purge_all,
    rows,
    text_of,
)


def hold(api: Api, cast: Cast, scope: str, scope_id: int, status: int = 201) -> Any:
    r = api.post("/api/officer/legal-holds", as_=cast.officer,
                 json={"scope": scope, "scope_id": scope_id, "reason": "纪检调查 2026-17"})
    assert r.status_code == status, r.text
    return r.json() if status < 400 else r


def lift(api: Api, cast: Cast, hold_id: int, status: int = 200) -> Any:
    r = api.post(f"/api/officer/legal-holds/{hold_id}/lift", as_=cast.officer,
                 json={"reason": "调查结束"})
    assert r.status_code == status, r.text
    return r.json() if status < 400 else r


def count(app: Any, model: Any) -> int:
    uow = app.state.uows()
    try:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        uow.close()


def test_purge_removes_texts_past_retention_and_records_what_went(
        api: Api, app: Any, cast: Cast, clock: FixedClock) -> None:
    gid = cast.group["id"]
    old = post(api, cast.member, gid, "去年的通知：周五开会")
    later(api, cast, clock, 100)
    young = post(api, cast.member, gid, "新的通知：周一开会")
    drain(app)
    later(api, cast, clock, 81)  # the first is 181 days old, the second 81
    assert purge_all(app) >= 1
    assert text_of(app, old["id"]) is None
    assert text_of(app, young["id"]) == "新的通知：周一开会"
    (purged,) = rows(app, PurgedContent, kind="messages")
    assert purged.row_id == old["id"]
    assert purged.content_sha256 == hashlib.sha256("去年的通知：周五开会".encode()).hexdigest()
    record = next(r for r in audit_records(app, EventType.RETENTION_PURGED)
                  if r.extra["kind"] == "messages")
    assert record.extra["rows"] == [{"id": old["id"], "sha256": purged.content_sha256}]
    assert record.extra["retention_days"] == 180
    assert record.subject_type == "retention"
    assert any(e.payload["kind"] == "messages" for e in
               outbox_events(app, EventType.RETENTION_PURGED))
    # A second pass finds nothing more (the purged text no longer matches).
    before = len(audit_records(app, EventType.RETENTION_PURGED))
    purge_all(app)
    assert len(audit_records(app, EventType.RETENTION_PURGED)) == before


def test_message_history_shows_a_purged_text_as_gone(api: Api, app: Any, cast: Cast,
                                                     clock: FixedClock) -> None:
    gid = cast.group["id"]
    post(api, cast.member, gid, "早就过期的内容")
    drain(app)
    later(api, cast, clock, 181)
    purge_all(app)
    r = api.get(f"/api/groups/{gid}/messages", as_=cast.member)
    assert r.status_code == 200
    assert "早就过期的内容" not in r.text


def test_group_hold_suspends_purging_until_lifted(api: Api, app: Any, cast: Cast,
                                                  clock: FixedClock) -> None:
    gid = cast.group["id"]
    msg = post(api, cast.member, gid, "需要保全的群聊记录")
    drain(app)
    placed = hold(api, cast, "group", gid)
    assert placed["scope"] == "group"
    assert placed["lifted_at"] is None
    (rec,) = audit_records(app, EventType.LEGAL_HOLD_PLACED)
    assert rec.acting_id == cast.officer.id
    assert rec.extra == {"scope": "group", "scope_id": gid, "reason": "纪检调查 2026-17"}
    assert outbox_events(app, EventType.LEGAL_HOLD_PLACED)
    later(api, cast, clock, 400)
    purge_all(app)
    assert text_of(app, msg["id"]) == "需要保全的群聊记录"
    report = api.get("/api/officer/retention", as_=cast.officer).json()
    messages = next(k for k in report["kinds"] if k["kind"] == "messages")
    assert messages["due_now"] == 0
    assert messages["held_past_retention"] >= 1
    (held,) = report["holds"]
    assert held["id"] == placed["id"]
    assert held["covers"]["groups"] == [gid]
    assert held["covers"]["message_texts_kept"] >= 1
    lifted = lift(api, cast, placed["id"])
    assert lifted["lifted_by"] == cast.officer.id
    assert lifted["lift_reason"] == "调查结束"
    assert audit_records(app, EventType.LEGAL_HOLD_LIFTED)[0].extra["scope_id"] == gid
    r = lift(api, cast, placed["id"], status=409)
    assert error_code(r) == "hold_not_active"
    purge_all(app)
    assert text_of(app, msg["id"]) is None


def test_account_hold_keeps_the_accounts_content_only(api: Api, app: Any, cast: Cast,
                                                      clock: FixedClock) -> None:
    gid = cast.group["id"]
    kept = post(api, cast.member, gid, "被保全账号的发言")
    other = post(api, cast.member2, gid, "其他人的发言")
    drain(app)
    hold(api, cast, "account", cast.member.id)
    later(api, cast, clock, 181)
    purge_all(app)
    assert text_of(app, kept["id"]) == "被保全账号的发言"
    assert text_of(app, other["id"]) is None


def test_case_hold_keeps_the_subject_and_its_context(api: Api, app: Any, cast: Cast,
                                                     clock: FixedClock) -> None:
    gid = cast.group["id"]
    ids = [post(api, cast.member, gid, f"第{i}条消息")["id"] for i in range(8)]
    far = ids[0]  # 7 before the subject: outside the 5 of context
    subject = ids[7]
    case_id = decided_case(api, app, cast, subject)
    hold(api, cast, "case", case_id)
    later(api, cast, clock, 181)
    purge_all(app)
    assert text_of(app, subject) == "第7条消息"
    assert text_of(app, ids[2]) == "第2条消息"  # within the context
    assert text_of(app, far) is None


def test_an_open_case_keeps_its_subject_without_a_hold(api: Api, app: Any, cast: Cast,
                                                       clock: FixedClock) -> None:
    from tests.governance.helpers import open_case

    gid = cast.group["id"]
    msg = post(api, cast.member, gid, "正在审核的消息")
    open_case(api, app, cast, msg["id"])
    later(api, cast, clock, 181)
    purge_all(app)
    assert text_of(app, msg["id"]) == "正在审核的消息"
    report = api.get("/api/officer/retention", as_=cast.officer).json()
    assert report["open_cases"]


def old_tokens(app: Any, clock: FixedClock) -> list[AuthToken]:
    limit = clock.now() - timedelta(days=180)
    return [t for t in rows(app, AuthToken) if t.expires_at < limit]


def test_logins_tokens_and_outbox_are_purged(api: Api, app: Any, cast: Cast,
                                             clock: FixedClock) -> None:
    r = api.post("/api/sessions", json={"phone": cast.member.phone, "password": "wrong-pass"})
    assert r.status_code == 401
    drain(app)
    assert count(app, LoginAttempt) == 1
    assert count(app, OutboxEvent) > 0
    later(api, cast, clock, 188)  # the cast's tokens (7 days) expired 181 days ago
    assert old_tokens(app, clock)
    purge_all(app)
    assert count(app, LoginAttempt) == 0
    assert not old_tokens(app, clock)
    # Every processed outbox row went; what is left was written after (logins, the purge).
    assert all(e.processed_at is None for e in rows(app, OutboxEvent))
    kinds = {r.extra["kind"] for r in audit_records(app, EventType.RETENTION_PURGED)}
    assert {"login_attempts", "auth_tokens", "outbox_events"} <= kinds


def test_account_hold_keeps_its_logins_and_tokens(api: Api, app: Any, cast: Cast,
                                                  clock: FixedClock) -> None:
    api.post("/api/sessions", json={"phone": cast.member.phone, "password": "wrong-pass"})
    hold(api, cast, "account", cast.member.id)
    later(api, cast, clock, 188)
    purge_all(app)
    assert count(app, LoginAttempt) == 1
    kept = old_tokens(app, clock)
    assert kept
    assert {t.account_id for t in kept} == {cast.member.id}


def test_regulated_archive_keeps_three_years(api: Api, cast: Cast, clock: FixedClock,
                                             settings: Settings) -> None:
    archive = create_app(settings.model_copy(update={"retention_regulated_archive": True}),
                         clock=clock)
    gid = cast.group["id"]
    msg = post(api, cast.member, gid, "受监管存档的消息")
    later(api, cast, clock, 400)
    assert purge_all(archive) == 0 or text_of(archive, msg["id"]) is not None
    assert text_of(archive, msg["id"]) == "受监管存档的消息"
    later(api, cast, clock, 700)  # 1100 days
    purge_all(archive)
    assert text_of(archive, msg["id"]) is None
    archive.state.engine.dispose()


def test_hold_needs_an_officer_and_a_real_target(api: Api, cast: Cast) -> None:
    r = api.post("/api/officer/legal-holds", as_=cast.member,
                 json={"scope": "group", "scope_id": cast.group["id"], "reason": "x"})
    assert r.status_code == 403
    assert error_code(r) == "forbidden"
    for scope in ("case", "group", "account"):
        r = hold(api, cast, scope, 987654, status=404)
        assert error_code(r) == "not_found"
    r = api.post("/api/officer/legal-holds", as_=cast.officer,
                 json={"scope": "planet", "scope_id": 1, "reason": "x"})
    assert r.status_code == 422
    r = api.post("/api/officer/legal-holds", as_=cast.officer,
                 json={"scope": "group", "scope_id": cast.group["id"], "reason": "   "})
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    assert not rows(api.client.app, LegalHold)


def test_list_holds(api: Api, cast: Cast) -> None:
    first = hold(api, cast, "group", cast.group["id"])
    second = hold(api, cast, "account", cast.member.id)
    lift(api, cast, first["id"])
    active = api.get("/api/officer/legal-holds", as_=cast.officer).json()
    assert [h["id"] for h in active] == [second["id"]]
    every = api.get("/api/officer/legal-holds?all=true", as_=cast.officer).json()
    assert {h["id"] for h in every} == {first["id"], second["id"]}


def test_cli_retention_report_and_purge(api: Api, app: Any, cast: Cast, settings: Settings,
                                        tmp_path: Any, clock: FixedClock) -> None:
    gid = cast.group["id"]
    post(api, cast.member, gid, "命令行报告里的消息")
    hold(api, cast, "group", gid)
    env = {"QUNGUAN_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    result = runner.invoke(cli, ["retention", "report", "--database-url",
                                 settings.database_url], env=env)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "messages" in out
    assert "纪检调查 2026-17" in out
    assert "hold 1 on group" in out
    result = runner.invoke(cli, ["retention", "report", "--json", "--database-url",
                                 settings.database_url], env=env)
    assert result.exit_code == 0
    assert '"regulated_archive": false' in result.output
    # The CLI runs on the real clock: nothing of today is past retention.
    result = runner.invoke(cli, ["retention", "purge", "--database-url",
                                 settings.database_url], env=env)
    assert result.exit_code == 0, result.output
    assert "purged" in result.output


def test_report_says_when_content_falls_due(api: Api, cast: Cast, clock: FixedClock) -> None:
    post(api, cast.member, cast.group["id"], "半年后到期")
    written = clock.now()
    report = api.get("/api/officer/retention", as_=cast.officer).json()
    messages = next(k for k in report["kinds"] if k["kind"] == "messages")
    assert messages["retention_days"] == 180
    assert messages["next_due_at"].startswith((written + timedelta(days=180)).date().isoformat())
    r = api.get("/api/officer/retention", as_=cast.member)
    assert r.status_code == 403


@pytest.mark.parametrize("days", [179, 0, -5])
def test_retention_below_180_days_refuses_to_start(days: int, tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="below the legal minimum of 180 days"):
        Settings(database_url=f"sqlite:///{tmp_path}/x.db", retention_messages_days=days)


def bring_log_up_to_date(app: Any) -> None:
    from qunguan.governance import proofs
    from qunguan.identity import queries as identity_queries

    uow = app.state.uows()
    try:
        proofs.bring_log_up_to_date(uow, acting=identity_queries.system_account(uow))
    finally:
        uow.close()


def self_check(app: Any) -> list[str]:
    from qunguan.auditlog import actions as auditlog_actions
    from qunguan.identity import queries as identity_queries

    uow = app.state.uows()
    try:
        problems = auditlog_actions.do_self_check(
            uow, acting=identity_queries.system_account(uow))
        uow.commit()
        return problems
    finally:
        uow.close()


def test_audit_content_is_purged_and_the_log_still_verifies(
        api: Api, app: Any, cast: Cast, clock: FixedClock) -> None:
    from qunguan.auditlog import leaves
    from qunguan.kernel.models import AuditRecord

    gid = cast.group["id"]
    msg = post(api, cast.member, gid, "说错了马上撤回的话")
    r = api.post(f"/api/messages/{msg['id']}/recall", as_=cast.member)
    assert r.status_code == 200, r.text
    (recall,) = audit_records(app, EventType.MESSAGE_RECALLED)
    assert "说错了马上撤回的话" in str(recall.extra)
    digest = leaves.content_sha256(leaves.content_of(recall)).hex()
    later(api, cast, clock, 401)
    # Not yet in the Merkle log: its content stays until the leaf has committed to it.
    purge_all(app)
    (kept,) = audit_records(app, EventType.MESSAGE_RECALLED)
    assert "说错了马上撤回的话" in str(kept.extra)
    bring_log_up_to_date(app)
    purge_all(app)
    (gone,) = audit_records(app, EventType.MESSAGE_RECALLED)
    assert "说错了马上撤回的话" not in str(gone.extra)
    assert gone.extra["purged"]["kind"] == "audit_content"
    assert gone.source_ip is None
    assert leaves.is_purged(leaves.content_of(gone))
    # The record itself is still there, with who, what and when.
    assert (gone.event_type, gone.acting_id, gone.subject_id) == (
        recall.event_type, recall.acting_id, recall.subject_id)
    purged = {p.row_id: p.content_sha256 for p in rows(app, PurgedContent, kind="audit_content")}
    assert purged[recall.id] == digest
    # The record of the purge is kept whole, and the log verifies: purged is not tampered.
    assert all("purged" not in r.extra for r in audit_records(app, EventType.RETENTION_PURGED))
    bring_log_up_to_date(app)
    assert self_check(app) == []
    assert rows(app, AuditRecord, id=recall.id)



def add_hit(app: Any, message_id: int, group_id: int, account_id: int) -> int:
    from qunguan.screening.models import ScreeningHit

    uow = app.state.uows()
    try:
        hit = ScreeningHit(message_id=message_id, group_id=group_id, account_id=account_id,
                           pack_version=0, rule_id="test.rule", mode="enforce", action="label",
                           severity=1, detector="test", stage="pre",
                           signals=[{"span": [0, 4], "term": "抽奖"}], created_at=uow.now())
        uow.session.add(hit)
        uow.session.flush()
        uow.commit()
        return hit.id
    finally:
        uow.close()


def test_screening_evidence_is_anonymised_unless_held(api: Api, app: Any, cast: Cast,
                                                      clock: FixedClock) -> None:
    from qunguan.screening.models import ScreeningHit

    gid = cast.group["id"]
    mine = post(api, cast.member, gid, "抽奖活动")
    theirs = post(api, cast.member2, gid, "抽奖活动二")
    held_hit = add_hit(app, mine["id"], gid, cast.member.id)
    free_hit = add_hit(app, theirs["id"], gid, cast.member2.id)
    drain(app)
    hold(api, cast, "account", cast.member.id)
    later(api, cast, clock, 181)
    purge_all(app)
    (kept,) = rows(app, ScreeningHit, id=held_hit)
    assert kept.signals == [{"span": [0, 4], "term": "抽奖"}]
    (emptied,) = rows(app, ScreeningHit, id=free_hit)
    assert emptied.signals == []
    assert emptied.rule_id == "test.rule"  # the hit itself stays
    (purged,) = rows(app, PurgedContent, kind="screening_evidence")
    assert purged.row_id == free_hit
