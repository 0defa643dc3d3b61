"""Appeals (AT-2): one per statement, within the window, decided by a second officer.

The second officer is neither the one who decided the measure (``Statement.decided_by``) nor
the appellant (an officer sanctioned like anyone else). Overturning reverses the measure the
statement explains, and only that one, without undue delay, in the same transaction: a
sanction is lifted and marked overturned with its credit given back; a removed message is
restored. Overturning either measure of a review decision also takes back the credit of the
upheld report behind it (the decision was wrong); a sanction of the same review that was not
overturned keeps its own contribution (a removal and a sanction are appealed separately).
"""

from __future__ import annotations

import enum

from sqlalchemy import case, select
from sqlalchemy.exc import IntegrityError

from qunguan.enforcement import credit
from qunguan.enforcement.models import (
    Appeal,
    AppealStatus,
    ReviewItem,
    Sanction,
    Statement,
    SubjectType,
)
from qunguan.enforcement.sanctions import do_lift_sanction
from qunguan.enforcement.statements import (
    NOT_APPEALABLE,
    access_statement,
    require_no_personal_data,
)
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.text import require_storable
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.messaging import actions as messaging_actions

MAX_APPEAL_CHARS = 4000


class Outcome(enum.StrEnum):
    UPHELD = "upheld"
    OVERTURNED = "overturned"


def _text(text: str, field: str, limit: int = MAX_APPEAL_CHARS) -> str:
    text = require_storable(text, field).strip()
    if not text:
        raise QunguanError("invalid_request", "Say why.", fields=[field])
    if len(text) > limit:
        raise QunguanError("invalid_request", f"At most {limit} characters.", fields=[field])
    return text


def _existing(uow: UnitOfWork, statement_id: int) -> Appeal | None:
    return uow.session.scalar(select(Appeal).where(Appeal.statement_id == statement_id))


def do_file_appeal(uow: UnitOfWork, *, acting: Account, statement_id: int,
                   text: str) -> Appeal:
    """The member appeals their own statement (anyone else's answers not_found)."""
    statement = access_statement(uow, viewer=acting, statement_id=statement_id)
    text = _text(text, "text")
    if statement.measure in NOT_APPEALABLE:
        raise QunguanError("not_appealable", "A held message is decided by its review; if it "
                           "is removed, appeal the removal's statement.", measure=statement.measure)
    earlier = _existing(uow, statement.id)
    if earlier is not None:
        raise QunguanError("already_appealed", "You have already appealed this decision.",
                           appeal_id=earlier.id)
    if uow.now() > statement.appeal_deadline:
        raise QunguanError("appeal_window_passed", "The time to appeal has passed.",
                           deadline=statement.appeal_deadline.isoformat())
    appeal = Appeal(statement_id=statement.id, appellant_id=acting.id, text=text,
                    status=AppealStatus.OPEN, created_at=uow.now())
    try:
        with uow.savepoint():
            uow.session.add(appeal)
            uow.session.flush()
    except IntegrityError:  # a double click racing itself: the unique statement_id decides
        raise QunguanError("already_appealed", "You have already appealed this decision."
                           ) from None
    record_audit(uow, EventType.APPEAL_FILED, acting=acting, subject_type="statement",
                 subject_id=statement.id, group_id=statement.group_id,
                 extra={"appeal_id": appeal.id, "measure": statement.measure,
                        "sanction_id": statement.sanction_id,
                        "message_id": statement.message_id})
    uow.emit(EventType.APPEAL_FILED, account_ids=(acting.id,), appeal_id=appeal.id,
             statement_id=statement.id)
    return appeal


def original_decider(uow: UnitOfWork, statement: Statement) -> int | None:
    """Who decided the measure appealed, as the statement records it; for a statement
    written before it recorded that, the officer who imposed the sanction or the reviewer
    who decided the item. None only for a measure automation took on its own."""
    if statement.decided_by is not None:
        return statement.decided_by
    if statement.sanction_id is not None:
        sanction = uow.session.get(Sanction, statement.sanction_id)
        if sanction is not None:
            return sanction.imposed_by
    if statement.review_item_id is not None:
        item = uow.session.get(ReviewItem, statement.review_item_id)
        if item is not None:
            return item.decided_by
    return None


def _culprit(uow: UnitOfWork, statement: Statement) -> tuple[SubjectType, int]:
    sanction = uow.session.get(Sanction, statement.sanction_id) \
        if statement.sanction_id is not None else None
    if sanction is not None:
        return SubjectType(sanction.subject_type), sanction.subject_id
    return SubjectType.ACCOUNT, statement.account_id


def access_appeal(uow: UnitOfWork, *, viewer: Account, appeal_id: int) -> Appeal:
    identity_queries.require_officer(viewer)
    appeal = uow.session.get(Appeal, appeal_id)
    if appeal is None:
        raise QunguanError("not_found", "No such appeal.")
    return appeal


def list_appeals(uow: UnitOfWork, *, viewer: Account, status: AppealStatus | None = None,
                 limit: int = 100) -> list[Appeal]:
    """Open appeals first, oldest first within each status."""
    identity_queries.require_officer(viewer)
    stmt = select(Appeal)
    if status is not None:
        stmt = stmt.where(Appeal.status == str(status))
    is_open = case((Appeal.status == AppealStatus.OPEN, 0), else_=1)
    return list(uow.session.scalars(stmt.order_by(is_open, Appeal.created_at, Appeal.id)
                                    .limit(limit)))


def my_appeals(uow: UnitOfWork, viewer: Account) -> list[Appeal]:
    return list(uow.session.scalars(select(Appeal).where(
        Appeal.appellant_id == viewer.id).order_by(Appeal.id.desc())))


def appeal_of(uow: UnitOfWork, statement_id: int) -> Appeal | None:
    return _existing(uow, statement_id)


def do_decide_appeal(uow: UnitOfWork, *, acting: Account, appeal_id: int, outcome: Outcome,
                     reason: str) -> Appeal:
    appeal = access_appeal(uow, viewer=acting, appeal_id=appeal_id)
    outcome = Outcome(outcome)
    # 1500: quoted in the lift reason (2000 at most).
    reason = require_no_personal_data(_text(reason, "reason", 1500))
    uow.session.refresh(appeal, with_for_update=True)  # two officers deciding at once
    if appeal.status != AppealStatus.OPEN:
        raise QunguanError("appeal_decided", "This appeal was already decided.",
                           status=appeal.status)
    statement = uow.session.get(Statement, appeal.statement_id)
    assert statement is not None
    decider = original_decider(uow, statement)
    if acting.id in (decider, appeal.appellant_id):
        raise QunguanError("own_decision", "Another officer must decide an appeal against "
                           "your own decision or a measure against you.")
    now = uow.now()
    appeal.status = AppealStatus(outcome.value)
    appeal.decided_by = acting.id
    appeal.decision_reason = reason
    appeal.decided_at = now
    restored = False
    if outcome == Outcome.OVERTURNED:
        if statement.sanction_id is not None:
            do_lift_sanction(uow, acting=acting, sanction_id=statement.sanction_id,
                             reason=f"appeal {appeal.id} overturned: {reason}", overturned=True)
        if statement.review_item_id is not None:
            # The upheld report behind the decision (against the sanctioned subject, a
            # group's for a group sanction); only that cause: a sanction of the same review
            # carries its id too and keeps its credit unless itself overturned.
            subject_type, subject_id = _culprit(uow, statement)
            credit.reverse_contributions(uow, review_item_id=statement.review_item_id,
                                         cause=credit.Cause.REPORT_UPHELD,
                                         subject_type=subject_type, subject_id=subject_id)
        if statement.measure == "message_removed" and statement.message_id is not None:
            messaging_actions.do_restore_message(uow, acting=acting,
                                                 message_id=statement.message_id,
                                                 reason=f"appeal {appeal.id} overturned")
            restored = True
    record_audit(uow, EventType.APPEAL_DECIDED, acting=acting, subject_type="statement",
                 subject_id=statement.id, group_id=statement.group_id,
                 extra={"appeal_id": appeal.id, "outcome": outcome.value, "reason": reason,
                        "sanction_id": statement.sanction_id,
                        "message_id": statement.message_id, "message_restored": restored,
                        "original_decider": decider})
    uow.emit(EventType.APPEAL_DECIDED, account_ids=(appeal.appellant_id,), appeal_id=appeal.id,
             statement_id=statement.id, outcome=outcome.value, reason=reason)
    return appeal
