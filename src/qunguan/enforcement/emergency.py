"""Emergency mode (CR-9): freeze posting in a group or a whole category of groups, and purge
every copy of a fingerprinted message across groups, each in one action.

A freeze is a set of ``suspend_posting`` sanctions tagged with the rule ``emergency_freeze``:
the one restriction checker enforces them, the founders get statements of reasons and may
appeal, and unfreezing lifts exactly these (never a suspension a review imposed). A group
founded in a category while the category is frozen inherits the freeze (the outbox handler
of ``GROUP_CREATED``), until the category freeze's end or an unfreeze of the category.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from qunguan.enforcement import credit, sanctions, statements
from qunguan.enforcement.models import Sanction, SanctionKind, SubjectType
from qunguan.groups import Group
from qunguan.identity import Account, AccountKind
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError, define_error
from qunguan.kernel.events import Event, EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.outbox import register_handler
from qunguan.kernel.text import require_storable
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.messaging import Message
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
    # It goes into every statement and audit record of the measure.
    return statements.require_no_personal_data(reason[:MAX_REASON_CHARS])


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


def _freeze_one(uow: UnitOfWork, acting: Account, group_id: int, reason: str,
                seconds: int) -> Sanction:
    sanction = sanctions.do_impose_sanction(
        uow, acting=acting, subject_type=SubjectType.GROUP, subject_id=group_id,
        kind=SanctionKind.SUSPEND_POSTING, reason=reason, duration_seconds=seconds,
        rule=FREEZE_RULE, skip_warning_reason="应急处置 emergency measure (CR-9): no warning "
        "first")
    # A freeze protects the public from what is spreading; it says nothing about the group's
    # conduct, so it must not lower the group's credit.
    credit.reverse_contributions(uow, sanction_id=sanction.id)
    return sanction


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
    seconds = duration_seconds or DEFAULT_FREEZE_SECONDS
    imposed = [_freeze_one(uow, acting, group.id, reason, seconds)
               for group in groups if group.id not in frozen]
    result = FreezeResult([s.subject_id for s in imposed], [s.id for s in imposed],
                          sorted(frozen))
    record_audit(uow, EventType.GROUPS_FROZEN, acting=acting, subject_type="category"
                 if category is not None else "group", subject_id=category or group_id,
                 group_id=group_id,
                 extra={"group_ids": result.group_ids, "sanction_ids": result.sanction_ids,
                        "already_frozen": result.already_frozen, "category": category,
                        "reason": reason, "duration_seconds": seconds,
                        # When a category freeze ends: groups founded in the category before
                        # then inherit it.
                        "ends_at": (uow.now() + timedelta(seconds=seconds)).isoformat()})
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


def _category_freeze(uow: UnitOfWork, category: str) -> AuditRecord | None:
    """The category freeze in force, if any: the latest officer's freeze of the whole
    category that has not ended and came after the category's last unfreeze."""
    def latest(type_: EventType) -> list[AuditRecord]:
        return list(uow.session.scalars(select(AuditRecord).where(
            AuditRecord.event_type == int(type_), AuditRecord.subject_type == "category",
            AuditRecord.subject_id == category).order_by(AuditRecord.id.desc())))

    thawed = next((r.id for r in latest(EventType.GROUPS_UNFROZEN)), 0)
    for record in latest(EventType.GROUPS_FROZEN):
        if record.id < thawed:
            return None
        ends_at = record.extra.get("ends_at")
        if not record.extra.get("inherited") and isinstance(ends_at, str) \
                and datetime.fromisoformat(ends_at) > uow.now():
            return record
    return None


def on_group_created(uow: UnitOfWork, event: Event) -> None:
    """A group founded in a frozen category is frozen too, until the category freeze ends:
    the measure was taken for the category, and a new group must not be the way around it.
    Imposed in the name of the officer who froze the category (their decision, and theirs to
    answer for on appeal)."""
    category = event.payload.get("category")
    group_id = event.group_id
    if not isinstance(category, str) or group_id is None:
        return
    record = _category_freeze(uow, category)
    if record is None or record.acting_id is None or _active_freezes(uow, [group_id]):
        return
    officer = uow.session.get(Account, record.acting_id)
    if officer is None or officer.kind != AccountKind.OFFICER:
        return  # no longer an officer: no one to impose it; the category can be frozen again
    ends_at = datetime.fromisoformat(str(record.extra["ends_at"]))
    seconds = max(1, int((ends_at - uow.now()).total_seconds()))
    reason = str(record.extra.get("reason") or "")
    sanction = _freeze_one(uow, officer, group_id, reason, seconds)
    record_audit(uow, EventType.GROUPS_FROZEN, acting=officer, subject_type="category",
                 subject_id=category, group_id=group_id,
                 extra={"group_ids": [group_id], "sanction_ids": [sanction.id],
                        "already_frozen": [], "category": category, "reason": reason,
                        "duration_seconds": seconds, "ends_at": ends_at.isoformat(),
                        "inherited": True, "category_freeze_record_id": record.id})
    uow.emit(EventType.GROUPS_FROZEN, group_ids=[group_id], category=category,
             sanction_ids=[sanction.id], inherited=True)


register_handler(EventType.GROUP_CREATED, on_group_created)


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
    now = uow.now()
    copies: list[Message] = []
    for copy in messaging_queries.live_copies(uow, fingerprint):
        try:
            messaging_actions.do_remove_message(uow, acting=acting, message_id=copy.id,
                                                reason=reason)
        except QunguanError as exc:
            if exc.code != "already_recalled":
                raise
            continue  # recalled or removed since we listed it: nothing left to purge there
        copies.append(copy)
        statements.issue_statement(
            uow, acting=acting, account_id=copy.sender_id, measure="message_removed",
            facts=f"您的消息（编号 {copy.id}）在应急处置中与其所有副本一并被删除。理由：{reason} "
            f"Your message {copy.id} was removed with every copy of it in an emergency "
            f"measure. Reason: {reason}",
            scope="every copy of this message in every group", rule=PURGE_RULE,
            automated=False, starts_at=now, ends_at=None, message_id=copy.id,
            group_id=copy.group_id)
    if not copies:
        raise QunguanError("nothing_to_purge", "No copy is left to remove.")
    result = PurgeResult(fingerprint, [c.id for c in copies],
                         sorted({c.group_id for c in copies}))
    record_audit(uow, EventType.FINGERPRINT_PURGED, acting=acting, subject_type="fingerprint",
                 subject_id=fingerprint,
                 extra={**result.public(), "reason": reason, "source_message_id": message_id})
    uow.emit(EventType.FINGERPRINT_PURGED, **result.public())
    return result
