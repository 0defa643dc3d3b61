"""Credit scores of accounts and groups (EC-1, EC-7): explainable, decaying, never a sanction.

A score is the base (setting ``credit_base``) plus every contribution not reversed, each
weighed by exponential decay (half-life ``credit_half_life_days``), so an old misstep fades
and a member can earn their way back. ``explain`` lists each contribution with its decayed
value: the score is never a black box (EC-7). The score only gates features (founding a large
group); it never sanctions anyone: only an officer does that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from qunguan.enforcement.models import CreditEvent, SanctionKind, SubjectType
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork

# What each rung costs. Heavier measures weigh more; a warning is a nudge. An institution
# wanting other weights changes them here, in one place, documented in docs/enforcement.md.
SANCTION_DELTAS: dict[SanctionKind, int] = {
    SanctionKind.WARNING: -5,
    SanctionKind.RESTRICT: -10,
    SanctionKind.MUTE: -10,
    SanctionKind.SUSPEND: -30,
    SanctionKind.BLACKLIST: -100,
    SanctionKind.GROUP_WARNING: -10,
    SanctionKind.SUSPEND_POSTING: -30,
    SanctionKind.CLOSE: -100,
    SanctionKind.LOWER_CREDIT: -20,
    SanctionKind.SUSPEND_ADMIN: -20,
    SanctionKind.REVOKE_FOUNDING: -40,
}
REPORT_UPHELD_DELTA = -5


class Cause:
    SANCTION = "sanction"
    REPORT_UPHELD = "report_upheld"


@dataclass(frozen=True)
class Contribution:
    id: int
    cause: str
    delta: int
    decayed: float  # what it weighs today; 0 once reversed
    created_at: datetime
    reversed_at: datetime | None
    sanction_id: int | None
    review_item_id: int | None
    note: str | None


@dataclass(frozen=True)
class CreditExplanation:
    subject_type: str
    subject_id: int
    base: int
    score: int
    half_life_days: float
    contributions: list[Contribution]


def _decay(uow: UnitOfWork, delta: int, since: datetime) -> float:
    age_days = max((uow.now() - since).total_seconds(), 0.0) / 86400.0
    factor: float = 0.5 ** (age_days / uow.settings.credit_half_life_days)
    return delta * factor


def add_contribution(uow: UnitOfWork, *, subject_type: SubjectType, subject_id: int, delta: int,
                     cause: str, sanction_id: int | None = None,
                     review_item_id: int | None = None, note: str | None = None) -> CreditEvent:
    """Part of the caller's action: its audit record covers this row."""
    row = CreditEvent(subject_type=str(subject_type), subject_id=subject_id, delta=delta,
                      cause=cause, sanction_id=sanction_id, review_item_id=review_item_id,
                      note=note, created_at=uow.now())
    uow.session.add(row)
    return row


def record_upheld_report(uow: UnitOfWork, *, subject_type: SubjectType, subject_id: int,
                         review_item_id: int) -> None:
    """A report against the subject was upheld by a reviewer. Once per review item, so a
    decision counted twice (a retry) cannot lower the score twice."""
    exists = uow.session.scalar(select(CreditEvent.id).where(
        CreditEvent.subject_type == str(subject_type), CreditEvent.subject_id == subject_id,
        CreditEvent.cause == Cause.REPORT_UPHELD, CreditEvent.review_item_id == review_item_id))
    if exists is None:
        add_contribution(uow, subject_type=subject_type, subject_id=subject_id,
                         delta=REPORT_UPHELD_DELTA, cause=Cause.REPORT_UPHELD,
                         review_item_id=review_item_id)


def reverse_contributions(uow: UnitOfWork, *, sanction_id: int | None = None,
                          review_item_id: int | None = None, cause: str | None = None,
                          subject_type: SubjectType | None = None,
                          subject_id: int | None = None) -> int:
    """An overturned decision takes its contributions back (kept, marked reversed). By
    review item, name the ``cause`` too: a sanction of the same review carries the item's
    id and must keep its contribution until the sanction itself is overturned."""
    stmt = update(CreditEvent).where(CreditEvent.reversed_at.is_(None))
    if sanction_id is not None:
        stmt = stmt.where(CreditEvent.sanction_id == sanction_id)
    elif review_item_id is not None:
        stmt = stmt.where(CreditEvent.review_item_id == review_item_id)
    else:
        raise ValueError("name the sanction or the review item whose credit to reverse")
    if cause is not None:
        stmt = stmt.where(CreditEvent.cause == cause)
    if subject_type is not None and subject_id is not None:
        stmt = stmt.where(CreditEvent.subject_type == str(subject_type),
                          CreditEvent.subject_id == subject_id)
    result = uow.session.execute(stmt.values(reversed_at=uow.now())
                                 .execution_options(synchronize_session="fetch"))
    return int(result.rowcount)  # type: ignore[attr-defined]


def explain(uow: UnitOfWork, subject_type: SubjectType, subject_id: int) -> CreditExplanation:
    rows = uow.session.scalars(select(CreditEvent).where(
        CreditEvent.subject_type == str(subject_type), CreditEvent.subject_id == subject_id)
        .order_by(CreditEvent.created_at.desc(), CreditEvent.id.desc()))
    contributions = [
        Contribution(id=r.id, cause=r.cause, delta=r.delta,
                     decayed=0.0 if r.reversed_at is not None else
                     round(_decay(uow, r.delta, r.created_at), 2),
                     created_at=r.created_at, reversed_at=r.reversed_at,
                     sanction_id=r.sanction_id, review_item_id=r.review_item_id, note=r.note)
        for r in rows]
    base = uow.settings.credit_base
    total = base + sum(_decay(uow, r.delta, r.created_at) for r in contributions
                       if r.reversed_at is None)
    return CreditExplanation(subject_type=str(subject_type), subject_id=subject_id, base=base,
                             score=round(total), half_life_days=uow.settings.credit_half_life_days,
                             contributions=contributions)


def score(uow: UnitOfWork, subject_type: SubjectType, subject_id: int) -> int:
    return explain(uow, subject_type, subject_id).score


def require_credit_to_found(uow: UnitOfWork, *, account_id: int, member_cap: int) -> None:
    """EC-1: founding a large group needs credit; a smaller one never does."""
    settings = uow.settings
    if member_cap <= settings.credit_large_group_members:
        return
    have = score(uow, SubjectType.ACCOUNT, account_id)
    if have < settings.credit_large_group_min:
        raise QunguanError("credit_too_low", "Your credit is too low to found a group this "
                           "large.", required=settings.credit_large_group_min, score=have,
                           member_cap=settings.credit_large_group_members)
