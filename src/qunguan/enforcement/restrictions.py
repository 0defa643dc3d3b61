"""The checker that answers ``kernel.restrictions.require_allowed`` from sanctions in force.

Registered when the enforcement package is imported (its ``__init__`` imports this module),
which ``qunguan.models.load_all_models`` and the app both do, so no request can be served
before it is in place.
"""

from __future__ import annotations

from sqlalchemy import select

from qunguan.enforcement import credit
from qunguan.enforcement.models import Sanction, SanctionKind, SubjectType
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.restrictions import Function, register_restriction_checker
from qunguan.kernel.uow import UnitOfWork


def _in_force(uow: UnitOfWork, subject_type: SubjectType, subject_id: int) -> list[Sanction]:
    # Inlined rather than shared with sanctions.in_force: this module must stay importable
    # from the package __init__ without pulling in identity and groups actions.
    now = uow.now()
    return list(uow.session.scalars(select(Sanction).where(
        Sanction.subject_type == str(subject_type), Sanction.subject_id == subject_id,
        Sanction.lifted_at.is_(None), Sanction.starts_at <= now,
        (Sanction.ends_at.is_(None)) | (Sanction.ends_at > now)).order_by(Sanction.id)))


def _until(sanction: Sanction) -> str | None:
    return sanction.ends_at.isoformat() if sanction.ends_at else None


def check_sanctions(uow: UnitOfWork, *, account_id: int, function: Function,
                    group_id: int | None) -> None:
    if function == Function.FOUND_LARGE_GROUP:
        credit.require_credit_to_found(uow, account_id=account_id,
                                       member_cap=uow.settings.credit_large_group_members + 1)
        return
    if group_id is not None and function in (Function.POST, Function.JOIN):
        for s in _in_force(uow, SubjectType.GROUP, group_id):
            if s.kind == SanctionKind.CLOSE:
                raise QunguanError("group_closed", "This group was closed.", sanction_id=s.id)
            if s.kind == SanctionKind.SUSPEND_POSTING and function == Function.POST:
                raise QunguanError("group_suspended", "Posting in this group is suspended.",
                                   sanction_id=s.id, until=_until(s))
    for s in _in_force(uow, SubjectType.ACCOUNT, account_id):
        if str(function) in s.functions and (s.group_id is None or s.group_id == group_id):
            raise QunguanError("restricted", "A sanction restricts this function.",
                               sanction_id=s.id, kind=s.kind, function=str(function),
                               until=_until(s))


register_restriction_checker(check_sanctions)
