"""Emergency mode (CR-9): freeze posting in a group or a whole category of groups, and purge
every copy of a fingerprinted message across groups, each in one action.

A freeze is a set of ``suspend_posting`` sanctions tagged with the rule ``emergency_freeze``:
the one restriction checker enforces them, the founders get statements of reasons and may
appeal, and unfreezing lifts exactly these (never a suspension a review imposed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from qunguan.enforcement import credit, sanctions, statements
from qunguan.enforcement.models import Sanction, SanctionKind, SubjectType
from qunguan.groups import Group
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError, define_error
from qunguan.kernel.events import EventType
from qunguan.kernel.text import require_storable
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.messaging import actions as messaging_actions
from qunguan.messaging import queries as messaging_queries

define_error("not_frozen", 409, "No emergency freeze is in force on that group or category.")
define_error("nothing_to_purge", 409, "No copy of that message is left to remove.")

FREEZE_RULE = "emergency_freeze"
PURGE_RULE = "emergency_purge"
# The sanctions ladder needs an end for a suspension; an emergency that outlasts it is frozen
# again. Unfreeze ends it earlier.
DEFAULT_FREEZE_SECONDS = 24 * 3600
MAX_REASON_CHARS = 2000


def _reason(reason: str) -> str:
    reason = require_storable(reason, "reason").strip()
    if not reason:
        raise QunguanError("invalid_request", "Give a reason.", fields=["reason"])
    return reason[:MAX_REASON_CHARS]


def _target_groups(uow: UnitOfWork, group_id: int | None, category: str | None) -> list[Group]:
    if (group_id is None) == (category is None):
        raise QunguanError("invalid_request", "Name either a group_id or a category.",
                           fields=["group_id", "category"])
    if group_id is not None:
        group = uow.session.get(Group, group_id)
        if group is None:
            raise QunguanError("not_found", "No such group.")
        return [group]
    return list(uow.session.scalars(select(Group).where(Group.category == category)
                                    .order_by(Group.id)))


def _active_freezes(uow: UnitOfWork, group_ids: list[int]) -> list[Sanction]:
    if not group_ids:
        return []
    return list(uow.session.scalars(select(Sanction).where(
        Sanction.subject_type == SubjectType.GROUP, Sanction.subject_id.in_(group_ids),
        Sanction.kind == SanctionKind.SUSPEND_POSTING, Sanction.rule == FREEZE_RULE,
        sanctions.in_force(uow.now())).order_by(Sanction.id)))


@dataclass(frozen=True)
class FreezeResult:
    group_ids: list[int]
    sanction_ids: list[int]
    already_frozen: list[int]


def do_freeze(uow: UnitOfWork, *, acting: Account, reason: str, group_id: int | None = None,
              category: str | None = None,
              duration_seconds: int | None = None) -> FreezeResult:
    """Suspend posting in the group, or in every group of the category, at once."""
    identity_queries.require_officer(acting)
    reason = _reason(reason)
    groups = _target_groups(uow, group_id, category)
    frozen = {s.subject_id for s in _active_freezes(uow, [g.id for g in groups])}
    imposed: list[Sanction] = []
    for group in groups:
        if group.id in frozen:
            continue
        sanction = sanctions.do_impose_sanction(
            uow, acting=acting, subject_type=SubjectType.GROUP, subject_id=group.id,
            kind=SanctionKind.SUSPEND_POSTING, reason=reason,
            duration_seconds=duration_seconds or DEFAULT_FREEZE_SECONDS, rule=FREEZE_RULE,
            skip_warning_reason="应急处置 emergency measure (CR-9): no warning first")
        # A freeze protects the public from what is spreading; it says nothing about the
        # group's conduct, so it must not lower the group's credit.
        credit.reverse_contributions(uow, sanction_id=sanction.id)
        imposed.append(sanction)
    result = FreezeResult([s.subject_id for s in imposed], [s.id for s in imposed],
                          sorted(frozen))
    record_audit(uow, EventType.GROUPS_FROZEN, acting=acting, subject_type="category"
                 if category is not None else "group", subject_id=category or group_id,
                 group_id=group_id,
                 extra={"group_ids": result.group_ids, "sanction_ids": result.sanction_ids,
                        "already_frozen": result.already_frozen, "category": category,
                        "reason": reason,
                        "duration_seconds": duration_seconds or DEFAULT_FREEZE_SECONDS})
    uow.emit(EventType.GROUPS_FROZEN, group_ids=result.group_ids, category=category,
             sanction_ids=result.sanction_ids)
    return result


def do_unfreeze(uow: UnitOfWork, *, acting: Account, reason: str, group_id: int | None = None,
                category: str | None = None) -> FreezeResult:
    """Lift the emergency freezes in force on the group or the category's groups."""
    identity_queries.require_officer(acting)
    reason = _reason(reason)
    groups = _target_groups(uow, group_id, category)
    freezes = _active_freezes(uow, [g.id for g in groups])
    if not freezes:
        raise QunguanError("not_frozen", "No emergency freeze is in force there.")
    for sanction in freezes:
        sanctions.do_lift_sanction(uow, acting=acting, sanction_id=sanction.id, reason=reason)
    result = FreezeResult(sorted({s.subject_id for s in freezes}), [s.id for s in freezes], [])
    record_audit(uow, EventType.GROUPS_UNFROZEN, acting=acting, subject_type="category"
                 if category is not None else "group", subject_id=category or group_id,
                 group_id=group_id,
                 extra={"group_ids": result.group_ids, "sanction_ids": result.sanction_ids,
                        "category": category, "reason": reason})
    uow.emit(EventType.GROUPS_UNFROZEN, group_ids=result.group_ids, category=category,
             sanction_ids=result.sanction_ids)
    return result


@dataclass(frozen=True)
class PurgeResult:
    fingerprint: str
    message_ids: list[int]
    group_ids: list[int]

    def public(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "message_ids": self.message_ids,
                "group_ids": self.group_ids, "copies": len(self.message_ids),
                "groups": len(self.group_ids)}


def do_purge(uow: UnitOfWork, *, acting: Account, reason: str, message_id: int | None = None,
             fingerprint: str | None = None) -> PurgeResult:
    """Remove every live copy of the message's fingerprint in every group, each with its
    MESSAGE_REMOVED record and a statement of reasons to its sender."""
    identity_queries.require_officer(acting)
    reason = _reason(reason)
    if (message_id is None) == (fingerprint is None):
        raise QunguanError("invalid_request", "Name either a message_id or a fingerprint.",
                           fields=["message_id", "fingerprint"])
    if message_id is not None:
        source = messaging_queries.message_by_id(uow, message_id)
        if source is None:
            raise QunguanError("not_found", "No such message.")
        fingerprint = source.fingerprint
    assert fingerprint is not None
    copies = messaging_queries.live_copies(uow, fingerprint)
    if not copies:
        raise QunguanError("nothing_to_purge", "No copy is left to remove.")
    now = uow.now()
    for copy in copies:
        messaging_actions.do_remove_message(uow, acting=acting, message_id=copy.id,
                                            reason=reason)
        statements.issue_statement(
            uow, acting=acting, account_id=copy.sender_id, measure="message_removed",
            facts=f"您的消息（编号 {copy.id}）在应急处置中与其所有副本一并被删除。理由：{reason} "
            f"Your message {copy.id} was removed with every copy of it in an emergency "
            f"measure. Reason: {reason}",
            scope="every copy of this message in every group", rule=PURGE_RULE,
            automated=False, starts_at=now, ends_at=None, message_id=copy.id,
            group_id=copy.group_id)
    result = PurgeResult(fingerprint, [c.id for c in copies],
                         sorted({c.group_id for c in copies}))
    record_audit(uow, EventType.FINGERPRINT_PURGED, acting=acting, subject_type="fingerprint",
                 subject_id=fingerprint,
                 extra={**result.public(), "reason": reason, "source_message_id": message_id})
    uow.emit(EventType.FINGERPRINT_PURGED, **result.public())
    return result
