"""Reads of sanctions, credit, statements and appeals, authorised here (routes stay thin).

Members read only their own; officers read everyone's. Views carry ids and display-safe
text only: no legal name or number ever reaches them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from qunguan.enforcement import appeals, credit, sanctions, statements
from qunguan.enforcement.models import Appeal, AppealStatus, Sanction, Statement, SubjectType
from qunguan.groups import Group
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork

_SANCTION_FIELDS = ("id", "subject_type", "subject_id", "kind", "functions", "group_id",
                    "starts_at", "ends_at", "reason", "rule", "automated", "credit_delta",
                    "lifted_at", "lift_reason", "overturned_at", "created_at", "review_item_id",
                    "imposed_by", "lifted_by")


def sanction_view(uow: UnitOfWork, sanction: Sanction) -> dict[str, Any]:
    view = {f: getattr(sanction, f) for f in _SANCTION_FIELDS}
    view["active"] = sanctions.is_active(sanction, uow.now())
    return view


def officer_sanctions(uow: UnitOfWork, *, viewer: Account, subject_type: SubjectType | None,
                      subject_id: int | None, active: bool | None,
                      limit: int) -> list[dict[str, Any]]:
    identity_queries.require_officer(viewer)
    rows = sanctions.list_sanctions(uow, subject_type=subject_type, subject_id=subject_id,
                                    active=active, limit=limit)
    return [sanction_view(uow, s) for s in rows]


def my_sanctions(uow: UnitOfWork, *, viewer: Account) -> list[dict[str, Any]]:
    return [sanction_view(uow, s) for s in sanctions.my_sanctions(uow, viewer)]


def _require_subject(uow: UnitOfWork, subject_type: SubjectType, subject_id: int) -> None:
    if subject_type == SubjectType.ACCOUNT:
        identity_queries.get_account(uow, subject_id)
    elif uow.session.get(Group, subject_id) is None:
        raise QunguanError("not_found", "No such group.")


def next_step(uow: UnitOfWork, *, viewer: Account, subject_type: SubjectType,
              subject_id: int) -> sanctions.NextStep:
    identity_queries.require_officer(viewer)
    _require_subject(uow, subject_type, subject_id)
    return sanctions.next_step(uow, subject_type, subject_id)


def my_credit(uow: UnitOfWork, *, viewer: Account) -> credit.CreditExplanation:
    return credit.explain(uow, SubjectType.ACCOUNT, viewer.id)


def subject_credit(uow: UnitOfWork, *, viewer: Account, subject_type: SubjectType,
                   subject_id: int) -> credit.CreditExplanation:
    identity_queries.require_officer(viewer)
    _require_subject(uow, subject_type, subject_id)
    return credit.explain(uow, subject_type, subject_id)


def _appeals_by_statement(uow: UnitOfWork, ids: list[int]) -> dict[int, Appeal]:
    if not ids:
        return {}
    rows = uow.session.scalars(select(Appeal).where(Appeal.statement_id.in_(ids)))
    return {a.statement_id: a for a in rows}


def _statement_view(statement: Statement, appeal: Appeal | None) -> dict[str, Any]:
    view = {c.key: getattr(statement, c.key) for c in Statement.__table__.columns}
    view["appeal"] = appeal
    return view


def my_statements(uow: UnitOfWork, *, viewer: Account) -> list[dict[str, Any]]:
    rows = statements.my_statements(uow, viewer)
    by_statement = _appeals_by_statement(uow, [s.id for s in rows])
    return [_statement_view(s, by_statement.get(s.id)) for s in rows]


def my_statement(uow: UnitOfWork, *, viewer: Account, statement_id: int) -> dict[str, Any]:
    row = statements.access_statement(uow, viewer=viewer, statement_id=statement_id)
    return _statement_view(row, appeals.appeal_of(uow, row.id))


def appeal_view(uow: UnitOfWork, appeal: Appeal) -> dict[str, Any]:
    statement = uow.session.get(Statement, appeal.statement_id)
    assert statement is not None
    view = {c.key: getattr(appeal, c.key) for c in Appeal.__table__.columns}
    view["statement"] = _statement_view(statement, None)
    view["original_decider"] = appeals.original_decider(uow, statement)
    return view


def officer_appeals(uow: UnitOfWork, *, viewer: Account, status: AppealStatus | None,
                    limit: int) -> list[dict[str, Any]]:
    rows = appeals.list_appeals(uow, viewer=viewer, status=status, limit=limit)
    return [appeal_view(uow, a) for a in rows]


def case_measures(uow: UnitOfWork, *, viewer: Account, item_id: int) -> dict[str, Any]:
    """What a review item led to, for the officer's case page: the sanctions imposed and the
    statements of reasons issued for it, each statement with its appeal (if any)."""
    identity_queries.require_officer(viewer)
    rows = list(uow.session.scalars(select(Sanction).where(Sanction.review_item_id == item_id)
                                    .order_by(Sanction.id)))
    found = list(uow.session.scalars(select(Statement).where(
        Statement.review_item_id == item_id).order_by(Statement.id)))
    by_statement = _appeals_by_statement(uow, [s.id for s in found])
    return {"sanctions": [sanction_view(uow, s) for s in rows],
            "statements": [_statement_view(s, by_statement.get(s.id)) for s in found]}
