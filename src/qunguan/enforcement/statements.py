"""Statements of reasons (AT-1): what was done, to what, for how long, why, and how to appeal.

Every sanction and every removed or held message produces one, addressed to the account the
measure affects (for a group sanction: the group's founder). The appeal deadline is fixed
when the statement is issued, so a later change of the window setting never shortens it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from qunguan.enforcement.models import Statement
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.uow import UnitOfWork, record_audit

MAX_FACTS_CHARS = 4000


def redress_text(deadline: datetime) -> str:
    """How to appeal, in both languages the service speaks."""
    day = deadline.date().isoformat()
    return (f"如不服本决定，可在 {day} 之前申诉（免费，由未参与原决定的其他人员复核）。"
            f" You may appeal this decision until {day}, free of charge; an officer who did not "
            "take it will review your appeal.")


def issue_statement(uow: UnitOfWork, *, acting: Account, account_id: int, measure: str,
                    facts: str, scope: str, rule: str | None, automated: bool,
                    starts_at: datetime, ends_at: datetime | None,
                    sanction_id: int | None = None, message_id: int | None = None,
                    review_item_id: int | None = None,
                    group_id: int | None = None) -> Statement:
    """Write the statement, its audit record, and deliver it to ``account_id``."""
    now = uow.now()
    deadline = now + timedelta(days=uow.settings.appeal_window_days)
    row = Statement(account_id=account_id, measure=measure, sanction_id=sanction_id,
                    message_id=message_id, review_item_id=review_item_id, group_id=group_id,
                    scope=scope, starts_at=starts_at, ends_at=ends_at,
                    facts=facts.strip()[:MAX_FACTS_CHARS], rule=rule, automated=automated,
                    redress=redress_text(deadline), appeal_deadline=deadline, created_at=now)
    uow.session.add(row)
    uow.session.flush()
    record_audit(uow, EventType.STATEMENT_ISSUED, acting=acting, subject_type="account",
                 subject_id=account_id, group_id=group_id,
                 extra={"statement_id": row.id, "measure": measure, "sanction_id": sanction_id,
                        "message_id": message_id, "review_item_id": review_item_id,
                        "rule": rule, "automated": automated,
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
