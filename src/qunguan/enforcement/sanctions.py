"""The sanctions ladder (EC-2..EC-5, EC-8): impose, lift, and suggest the next rung.

A sanction is a row with a scope, a start and an end (or none: permanent); it is in force
while ``starts_at <= now < ends_at`` and not lifted, so expiry needs no worker. What it takes
away is a list of ``kernel.restrictions.Function``s that the checker in
``enforcement/restrictions.py`` answers from, wherever messaging and groups ask.

Only officers impose sanctions: automation may hold, label or queue for review, and a rule
that fired is recorded (``rule``, ``automated``), but a human decides (EC-7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select

from qunguan.enforcement import credit
from qunguan.enforcement.models import ReviewItem, Sanction, SanctionKind, SubjectType
from qunguan.enforcement.statements import issue_statement, require_no_personal_data
from qunguan.groups import Group
from qunguan.identity import Account
from qunguan.identity import actions as identity_actions
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.restrictions import Function
from qunguan.kernel.text import require_storable
from qunguan.kernel.uow import UnitOfWork, record_audit

MAX_REASON_CHARS = 2000
MAX_DURATION_SECONDS = 5 * 365 * 24 * 3600

ACCOUNT_KINDS = frozenset({
    SanctionKind.WARNING, SanctionKind.RESTRICT, SanctionKind.MUTE, SanctionKind.SUSPEND,
    SanctionKind.BLACKLIST, SanctionKind.LOWER_CREDIT, SanctionKind.SUSPEND_ADMIN,
    SanctionKind.REVOKE_FOUNDING,
})
GROUP_KINDS = frozenset({SanctionKind.GROUP_WARNING, SanctionKind.SUSPEND_POSTING,
                         SanctionKind.CLOSE})
# What a member can be restricted from piecemeal; posting is taken by mute (one group) or
# suspend (everywhere), which say so in their statement.
RESTRICTABLE = frozenset({Function.FORWARD, Function.RED_ENVELOPES, Function.CREATE_GROUP})
# Suspend and blacklist take every function, founder and admin powers and joining included:
# a suspended member may still read (and appeal), nothing more.
EVERYTHING = [Function.POST, Function.FORWARD, Function.RED_ENVELOPES, Function.CREATE_GROUP,
              Function.GROUP_ADMIN, Function.JOIN]
# The rule of emergency freezes (enforcement/emergency.py). A freeze protects the public and
# says nothing about the group's conduct: it is not a rung of the ladder.
FREEZE_RULE = "emergency_freeze"
FIXED_FUNCTIONS: dict[SanctionKind, list[Function]] = {
    SanctionKind.WARNING: [],
    SanctionKind.MUTE: [Function.POST],
    SanctionKind.SUSPEND: EVERYTHING,
    SanctionKind.BLACKLIST: EVERYTHING,
    SanctionKind.GROUP_WARNING: [],
    SanctionKind.SUSPEND_POSTING: [Function.POST],
    SanctionKind.CLOSE: [Function.POST, Function.JOIN],
    SanctionKind.LOWER_CREDIT: [],
    SanctionKind.SUSPEND_ADMIN: [Function.GROUP_ADMIN],
    SanctionKind.REVOKE_FOUNDING: [Function.CREATE_GROUP],
}
# A record, not a state: over as soon as imposed (ends_at = starts_at).
INSTANT = frozenset({SanctionKind.WARNING, SanctionKind.GROUP_WARNING,
                     SanctionKind.LOWER_CREDIT})
NEEDS_DURATION = frozenset({SanctionKind.RESTRICT, SanctionKind.MUTE, SanctionKind.SUSPEND,
                            SanctionKind.SUSPEND_POSTING, SanctionKind.SUSPEND_ADMIN})
PERMANENT_ONLY = frozenset({SanctionKind.BLACKLIST, SanctionKind.CLOSE})
# EC-8: the measures that need an earlier rung (or an explicit reason for skipping it).
SEVERE = frozenset({SanctionKind.SUSPEND, SanctionKind.BLACKLIST,
                    SanctionKind.SUSPEND_POSTING, SanctionKind.CLOSE})
NEEDS_GROUP = frozenset({SanctionKind.MUTE})

ACCOUNT_LADDER = [SanctionKind.WARNING, SanctionKind.RESTRICT, SanctionKind.SUSPEND,
                  SanctionKind.BLACKLIST]
GROUP_LADDER = [SanctionKind.GROUP_WARNING, SanctionKind.SUSPEND_POSTING, SanctionKind.CLOSE]
# Where each kind sits on its subject's ladder (mute counts as restrict; founder and admin
# measures as a warning of the person).
RUNG: dict[SanctionKind, int] = {
    SanctionKind.WARNING: 0, SanctionKind.LOWER_CREDIT: 0, SanctionKind.RESTRICT: 1,
    SanctionKind.MUTE: 1, SanctionKind.SUSPEND_ADMIN: 1, SanctionKind.REVOKE_FOUNDING: 1,
    SanctionKind.SUSPEND: 2, SanctionKind.BLACKLIST: 3,
    SanctionKind.GROUP_WARNING: 0, SanctionKind.SUSPEND_POSTING: 1, SanctionKind.CLOSE: 2,
}


def _invalid(problem: str, message: str) -> QunguanError:
    return QunguanError("invalid_sanction", message, problem=problem)


def in_force(now: datetime) -> ColumnElement[bool]:
    """The SQL condition of a sanction in force at ``now``."""
    return and_(Sanction.lifted_at.is_(None), Sanction.starts_at <= now,
                or_(Sanction.ends_at.is_(None), Sanction.ends_at > now))


def is_active(sanction: Sanction, now: datetime) -> bool:
    return (sanction.lifted_at is None and sanction.starts_at <= now
            and (sanction.ends_at is None or sanction.ends_at > now))


def history(uow: UnitOfWork, subject_type: SubjectType, subject_id: int, *,
            include_overturned: bool = False) -> list[Sanction]:
    """The subject's rungs of the ladder: its sanctions, less overturned ones and emergency
    freezes."""
    stmt = select(Sanction).where(Sanction.subject_type == str(subject_type),
                                  Sanction.subject_id == subject_id,
                                  or_(Sanction.rule.is_(None), Sanction.rule != FREEZE_RULE))
    if not include_overturned:
        stmt = stmt.where(Sanction.overturned_at.is_(None))
    return list(uow.session.scalars(stmt.order_by(Sanction.id)))


@dataclass(frozen=True)
class NextStep:
    subject_type: str
    subject_id: int
    kind: SanctionKind | None  # None: nothing above the top rung already reached
    previous: list[int]  # ids of the sanctions counted (overturned ones are not)
    explanation: str


def next_step(uow: UnitOfWork, subject_type: SubjectType, subject_id: int) -> NextStep:
    """The rung above the highest one the subject has reached (a suggestion for the
    reviewer, never applied automatically)."""
    ladder = GROUP_LADDER if subject_type == SubjectType.GROUP else ACCOUNT_LADDER
    past = history(uow, subject_type, subject_id)
    if not past:
        return NextStep(str(subject_type), subject_id, ladder[0], [],
                        "No earlier sanction: start with a warning (EC-8).")
    top = max(RUNG[SanctionKind(s.kind)] for s in past)
    ids = [s.id for s in past]
    if top + 1 >= len(ladder):
        return NextStep(str(subject_type), subject_id, None, ids,
                        "The top of the ladder was already reached.")
    kind = ladder[top + 1]
    return NextStep(str(subject_type), subject_id, kind, ids,
                    f"{len(past)} earlier sanction(s), the heaviest at rung {top + 1} of "
                    f"{len(ladder)}: the next rung is {kind.value}.")


def _functions(kind: SanctionKind, functions: list[Function] | None) -> list[Function]:
    if kind == SanctionKind.RESTRICT:
        chosen = list(dict.fromkeys(functions or []))
        if not chosen:
            raise _invalid("functions", "Name the functions to restrict.")
        if any(f not in RESTRICTABLE for f in chosen):
            raise _invalid("functions", "A restriction may take away forwarding, red "
                           "envelopes and founding groups; use mute or suspend for posting.")
        return chosen
    if functions:
        raise _invalid("functions", "Only a restriction takes a list of functions.")
    return FIXED_FUNCTIONS[kind]


def _ends_at(kind: SanctionKind, start: datetime, duration_seconds: int | None) -> datetime | None:
    if duration_seconds is not None and not 1 <= duration_seconds <= MAX_DURATION_SECONDS:
        raise QunguanError("invalid_request", "The duration is out of range.",
                           fields=["duration_seconds"], max=MAX_DURATION_SECONDS)
    if kind in INSTANT:
        if duration_seconds is not None:
            raise _invalid("duration", f"A {kind.value} takes no duration.")
        return start
    if kind in PERMANENT_ONLY:
        if duration_seconds is not None:
            raise _invalid("duration", f"A {kind.value} is permanent (until lifted).")
        return None
    if kind in NEEDS_DURATION and duration_seconds is None:
        raise _invalid("duration", f"A {kind.value} needs a duration.")
    return None if duration_seconds is None else start + timedelta(seconds=duration_seconds)


def _scope_text(kind: SanctionKind, functions: list[Function], group: Group | None) -> str:
    where = f"群组「{group.name}」(#{group.id}) / group #{group.id}" if group else \
        "全部群组 / all groups"
    if kind in (SanctionKind.GROUP_WARNING, SanctionKind.SUSPEND_POSTING, SanctionKind.CLOSE):
        assert group is not None
        return f"{where}: {kind.value}"
    taken = ", ".join(f.value for f in functions) if functions else "none (a record)"
    return f"{where}; functions taken away: {taken}"


def _require_reason(text: str, field: str = "reason") -> str:
    text = require_storable(text, field).strip()
    if not text:
        raise QunguanError("invalid_request", "A reason is required.", fields=[field])
    if len(text) > MAX_REASON_CHARS:
        raise QunguanError("invalid_request", f"At most {MAX_REASON_CHARS} characters.",
                           fields=[field])
    return require_no_personal_data(text, field)


def _group(uow: UnitOfWork, group_id: int) -> Group:
    group = uow.session.get(Group, group_id)
    if group is None:
        raise QunguanError("not_found", "No such group.")
    return group


def do_impose_sanction(uow: UnitOfWork, *, acting: Account, subject_type: SubjectType,
                       subject_id: int, kind: SanctionKind, reason: str,
                       duration_seconds: int | None = None, group_id: int | None = None,
                       functions: list[Function] | None = None, rule: str | None = None,
                       automated: bool = False, review_item_id: int | None = None,
                       message_id: int | None = None, skip_warning_reason: str | None = None,
                       credit_delta: int | None = None) -> Sanction:
    """Impose one sanction: the row, its credit contribution, the audit record and event,
    and the statement of reasons to the affected account (for a group: its founder)."""
    identity_queries.require_officer(acting)  # a human in every sanction
    subject_type = SubjectType(subject_type)
    kind = SanctionKind(kind)
    reason = _require_reason(reason)
    if subject_type == SubjectType.ACCOUNT:
        if kind not in ACCOUNT_KINDS:
            raise _invalid("kind", f"A {kind.value} applies to groups, not accounts.")
        identity_queries.get_account(uow, subject_id)  # not_found for unknown and system
        affected = subject_id
        group = _group(uow, group_id) if group_id is not None else None
        if kind in NEEDS_GROUP and group is None:
            raise _invalid("group_id", f"A {kind.value} names the group it applies in.")
        if group is not None and kind not in (SanctionKind.MUTE, SanctionKind.SUSPEND_ADMIN):
            raise _invalid("group_id", f"A {kind.value} applies everywhere, not in one group.")
    elif subject_type == SubjectType.GROUP:
        if kind not in GROUP_KINDS:
            raise _invalid("kind", f"A {kind.value} applies to accounts, not groups.")
        if group_id is not None and group_id != subject_id:
            raise _invalid("group_id", "A group sanction applies to the group itself.")
        group = _group(uow, subject_id)
        affected = group.founder_id
    else:
        raise _invalid("subject_type", "Sanctions apply to accounts and groups; a message is "
                       "removed, not sanctioned.")
    if review_item_id is not None and uow.session.get(ReviewItem, review_item_id) is None:
        raise QunguanError("not_found", "No such review item.", review_item_id=review_item_id)
    taken = _functions(kind, functions)
    now = uow.now()
    ends_at = _ends_at(kind, now, duration_seconds)
    skip = None
    if kind in SEVERE and not history(uow, subject_type, subject_id):
        if not skip_warning_reason or not skip_warning_reason.strip():
            raise QunguanError("warning_required", "Warn before suspending: this subject has "
                               "no earlier sanction. Give skip_warning_reason to proceed.")
        skip = _require_reason(skip_warning_reason, "skip_warning_reason")
    if credit_delta is not None and kind != SanctionKind.LOWER_CREDIT:
        raise _invalid("credit_delta", "Only lower_credit takes a credit_delta.")
    if credit_delta is not None and not -1000 <= credit_delta < 0:
        raise QunguanError("invalid_request", "credit_delta lowers the score: -1000 to -1.",
                           fields=["credit_delta"])
    delta = credit_delta if credit_delta is not None else credit.SANCTION_DELTAS[kind]
    sanction = Sanction(subject_type=str(subject_type), subject_id=subject_id, kind=str(kind),
                        functions=[str(f) for f in taken],
                        group_id=group.id if group is not None else None, starts_at=now,
                        ends_at=ends_at, reason=reason, rule=rule, automated=automated,
                        review_item_id=review_item_id, imposed_by=acting.id,
                        credit_delta=delta, created_at=now)
    uow.session.add(sanction)
    uow.session.flush()
    credit.add_contribution(uow, subject_type=subject_type, subject_id=subject_id, delta=delta,
                            cause=credit.Cause.SANCTION, sanction_id=sanction.id,
                            review_item_id=review_item_id, note=kind.value)
    if kind == SanctionKind.BLACKLIST:
        # EC-5: the identity may not register again. The account stays open (AT-2: the
        # member must be able to read the statement and appeal); the sanction takes every
        # function away.
        identity_actions.do_blacklist_account(uow, acting=acting, account_id=subject_id,
                                              reason=reason, close_account=False)
    group_scope = group.id if group is not None else None
    record_audit(uow, EventType.SANCTION_IMPOSED, acting=acting, subject_type=str(subject_type),
                 subject_id=subject_id, group_id=group_scope,
                 extra={"sanction_id": sanction.id, "kind": kind.value,
                        "functions": sanction.functions,
                        "ends_at": ends_at.isoformat() if ends_at else None,
                        "rule": rule, "automated": automated, "review_item_id": review_item_id,
                        "message_id": message_id, "credit_delta": delta,
                        "skip_warning_reason": skip})
    # Group measures are news for the whole group (posting stops); a member's are theirs.
    uow.emit(EventType.SANCTION_IMPOSED,
             group_id=subject_id if subject_type == SubjectType.GROUP else None,
             account_ids=(affected,), sanction_id=sanction.id, kind=kind.value,
             subject_type=str(subject_type), subject_id=subject_id, group=group_scope,
             ends_at=ends_at.isoformat() if ends_at else None)
    issue_statement(uow, acting=acting, account_id=affected, measure=kind.value, facts=reason,
                    scope=_scope_text(kind, taken, group), rule=rule, automated=automated,
                    starts_at=now, ends_at=ends_at, sanction_id=sanction.id,
                    message_id=message_id, review_item_id=review_item_id,
                    group_id=group_scope)
    return sanction


def access_sanction(uow: UnitOfWork, sanction_id: int) -> Sanction:
    sanction = uow.session.get(Sanction, sanction_id)
    if sanction is None:
        raise QunguanError("not_found", "No such sanction.")
    return sanction


def _free_identity(uow: UnitOfWork, acting: Account, account_id: int, reason: str) -> None:
    account = identity_queries.get_account(uow, account_id)
    # An operator may have lifted the bar already (``qunguan`` CLI): nothing left to free.
    if account.identity_index is not None and \
            identity_queries.is_blacklisted(uow, account.identity_index):
        identity_actions.do_lift_blacklist(uow, acting=acting, account_id=account_id,
                                           reason=reason)


def do_lift_sanction(uow: UnitOfWork, *, acting: Account, sanction_id: int, reason: str,
                     overturned: bool = False) -> Sanction:
    """End a sanction early, recording who and why. ``overturned`` (an appeal) also takes
    back its credit contribution and its place on the ladder. Ending a blacklist, lifted or
    overturned, frees the identity to verify again (EC-5 bars only while it is in force)."""
    identity_queries.require_officer(acting)
    reason = _require_reason(reason)
    sanction = access_sanction(uow, sanction_id)
    uow.session.refresh(sanction, with_for_update=True)  # two lifts racing: one wins
    now = uow.now()
    # An appeal may overturn a sanction that has already ended (a warning, an expired
    # suspension): it is still marked and its credit given back.
    done = sanction.overturned_at is not None if overturned else not is_active(sanction, now)
    if done:
        raise QunguanError("sanction_not_active", "The sanction is no longer in force.",
                           sanction_id=sanction.id)
    if is_active(sanction, now):
        sanction.lifted_at = now
        sanction.lifted_by = acting.id
        sanction.lift_reason = reason
        if sanction.kind == SanctionKind.BLACKLIST:
            _free_identity(uow, acting, sanction.subject_id, reason)
    reversed_credit = 0
    if overturned:
        sanction.overturned_at = now
        reversed_credit = credit.reverse_contributions(uow, sanction_id=sanction.id)
    subject_type = SubjectType(sanction.subject_type)
    affected = sanction.subject_id if subject_type == SubjectType.ACCOUNT else \
        _group(uow, sanction.subject_id).founder_id
    record_audit(uow, EventType.SANCTION_LIFTED, acting=acting,
                 subject_type=sanction.subject_type, subject_id=sanction.subject_id,
                 group_id=sanction.group_id,
                 extra={"sanction_id": sanction.id, "kind": sanction.kind, "reason": reason,
                        "overturned": overturned, "credit_reversed": reversed_credit})
    uow.emit(EventType.SANCTION_LIFTED,
             group_id=sanction.subject_id if subject_type == SubjectType.GROUP else None,
             account_ids=(affected,), sanction_id=sanction.id, kind=sanction.kind,
             overturned=overturned)
    return sanction


def list_sanctions(uow: UnitOfWork, *, subject_type: SubjectType | None = None,
                   subject_id: int | None = None, active: bool | None = None,
                   limit: int = 100) -> list[Sanction]:
    stmt = select(Sanction)
    if subject_type is not None:
        stmt = stmt.where(Sanction.subject_type == str(subject_type))
    if subject_id is not None:
        stmt = stmt.where(Sanction.subject_id == subject_id)
    now = uow.now()
    if active is True:
        stmt = stmt.where(in_force(now))
    elif active is False:
        stmt = stmt.where(~in_force(now))
    return list(uow.session.scalars(stmt.order_by(Sanction.id.desc()).limit(limit)))


def my_sanctions(uow: UnitOfWork, viewer: Account) -> list[Sanction]:
    """A member's own sanctions, active and past, and those of the groups they founded."""
    founded = select(Group.id).where(Group.founder_id == viewer.id)
    return list(uow.session.scalars(select(Sanction).where(or_(
        and_(Sanction.subject_type == SubjectType.ACCOUNT, Sanction.subject_id == viewer.id),
        and_(Sanction.subject_type == SubjectType.GROUP, Sanction.subject_id.in_(founded))))
        .order_by(Sanction.id.desc())))
