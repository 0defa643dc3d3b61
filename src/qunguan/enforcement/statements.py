"""Statements of reasons (AT-1): what was done, to what, for how long, why, and how to appeal.

Every sanction and every removed or held message produces one, addressed to the account the
measure affects (for a group sanction: the group's founder). The appeal deadline is fixed
when the statement is issued, so a later change of the window setting never shortens it.
The statement also records who decided the measure (``decided_by``), so the four-eyes rule
on appeal never depends on finding the decider elsewhere.

A hold (``message_held``) is the one statement that is not appealable: the pending review
decides it, and a removal gets its own, appealable, statement.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from qunguan import screening
from qunguan.enforcement.models import Statement
from qunguan.identity import Account, AccountKind
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.uow import UnitOfWork, record_audit

MAX_FACTS_CHARS = 4000
# Measures whose statement cannot be appealed (see the module docstring).
NOT_APPEALABLE = frozenset({"message_held"})


def require_no_personal_data(text: str, field: str = "reason") -> str:
    """Refuse an officer's free text that carries personal data (a resident ID, a mobile or a
    bank card number): it would be copied into statements, audit records and the blacklist,
    where it has no business. The evidence stays in the message's own record."""
    kinds = screening.contains_personal_data(text)
    if kinds:
        raise QunguanError("reason_has_personal_data", "Leave personal data (ID, phone or "
                           "bank card numbers) out of the reason; the evidence is on record.",
                           fields=[field], kinds=kinds)
    return text


def redress_text(deadline: datetime, measure: str | None = None) -> str:
    """How to appeal, in both languages the service speaks. The deadline is printed as the
    exact moment it passes (ISO 8601 with its offset), the same value as appeal_deadline."""
    if measure in NOT_APPEALABLE:
        return ("消息在人工审核前暂不送达，此暂扣本身不可申诉：审核通过即送达；如审核决定删除，"
                "您将收到一份可申诉的删除决定书。 The hold itself cannot be appealed: a "
                "reviewer decides it; if the message is delivered, nothing remains to appeal, "
                "and if it is removed you receive a separate statement for the removal, which "
                "you can appeal.")
    moment = deadline.isoformat(timespec="seconds")
    return (f"如不服本决定，可在 {moment} 之前申诉（免费，由未参与原决定的其他人员复核）。"
            f" You may appeal this decision until {moment}, free of charge; an officer who did "
            "not take it will review your appeal.")


def issue_statement(uow: UnitOfWork, *, acting: Account, account_id: int, measure: str,
                    facts: str, scope: str, rule: str | None, automated: bool,
                    starts_at: datetime, ends_at: datetime | None,
                    sanction_id: int | None = None, message_id: int | None = None,
                    review_item_id: int | None = None,
                    group_id: int | None = None,
                    decided_by: int | None = None) -> Statement:
    """Write the statement, its audit record, and deliver it to ``account_id``.

    ``decided_by`` defaults to ``acting`` unless that is the system account: whoever issues
    a statement for a human decision is the human who decided it (an officer, a group admin).
    A human's facts may not carry personal data (``reason_has_personal_data``)."""
    now = uow.now()
    human = acting.kind != AccountKind.SYSTEM
    if decided_by is None and human:
        decided_by = acting.id
    if human:
        require_no_personal_data(facts)
    deadline = now + timedelta(days=uow.settings.appeal_window_days)
    row = Statement(account_id=account_id, measure=measure, sanction_id=sanction_id,
                    message_id=message_id, review_item_id=review_item_id, group_id=group_id,
                    scope=scope, starts_at=starts_at, ends_at=ends_at,
                    facts=facts.strip()[:MAX_FACTS_CHARS], rule=rule, automated=automated,
                    decided_by=decided_by, redress=redress_text(deadline, measure),
                    appeal_deadline=deadline, created_at=now)
    uow.session.add(row)
    uow.session.flush()
    record_audit(uow, EventType.STATEMENT_ISSUED, acting=acting, subject_type="account",
                 subject_id=account_id, group_id=group_id,
                 extra={"statement_id": row.id, "measure": measure, "sanction_id": sanction_id,
                        "message_id": message_id, "review_item_id": review_item_id,
                        "rule": rule, "automated": automated, "decided_by": decided_by,
                        "appeal_deadline": deadline.isoformat()})
    uow.emit(EventType.STATEMENT_ISSUED, account_ids=(account_id,), statement_id=row.id,
             measure=measure, sanction_id=sanction_id, message_id=message_id,
             appeal_deadline=deadline.isoformat())
    return row


def my_statements(uow: UnitOfWork, viewer: Account) -> list[Statement]:
    return list(uow.session.scalars(select(Statement).where(
        Statement.account_id == viewer.id).order_by(Statement.id.desc())))


def access_statement(uow: UnitOfWork, *, viewer: Account, statement_id: int) -> Statement:
    """One's own statement; anyone else's is answered like a missing one."""
    row = uow.session.get(Statement, statement_id)
    if row is None or row.account_id != viewer.id:
        raise QunguanError("not_found", "No such statement.")
    return row
