"""Every state change of groups; each admin action attributed and audited (GA-8)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from qunguan.groups.models import (
    CandidateRole,
    Category,
    ElectionCandidate,
    ElectionPeriod,
    ElectionPolicy,
    ElectionScope,
    Group,
    Invitation,
    JoinPolicy,
    JoinRequest,
    Membership,
    RequestStatus,
    Role,
)
from qunguan.groups.queries import (
    access_election,
    access_membership,
    group_by_code,
    manager_ids,
    membership,
    require_manager,
)
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError, define_error
from qunguan.kernel.events import EventType
from qunguan.kernel.ids import new_code
from qunguan.kernel.restrictions import Function, require_allowed
from qunguan.kernel.text import optional_text, require_storable
from qunguan.kernel.uow import UnitOfWork, record_audit

MAX_RULES_CHARS = 5000
MAX_MUTE_SECONDS = 30 * 24 * 3600


def _audit(uow: UnitOfWork, type_: EventType, acting: Account, group: Group,
           subject_id: int | None = None, **extra: Any) -> None:
    record_audit(uow, type_, acting=acting, subject_type="account" if subject_id else "group",
                 subject_id=subject_id if subject_id else group.id, group_id=group.id,
                 extra=extra)


def _count_joined(uow: UnitOfWork, account_id: int) -> int:
    return int(uow.session.scalar(select(func.count(Membership.id)).where(
        Membership.account_id == account_id)) or 0)


def _add_member(uow: UnitOfWork, group: Group, account: Account, role: Role,
                rules_version: int) -> Membership:
    """Insert a membership within the caps (GA-2). The count is bumped with a conditional
    UPDATE so two concurrent approvals can never exceed the cap."""
    require_allowed(uow, account_id=account.id, function=Function.JOIN, group_id=group.id)
    if membership(uow, group.id, account.id) is not None:
        raise QunguanError("already_member", "Already a member of this group.")
    if _count_joined(uow, account.id) >= uow.settings.max_groups_joined:
        raise QunguanError("too_many_groups_joined", "Member of as many groups as allowed.",
                           max=uow.settings.max_groups_joined)
    bumped = uow.session.execute(
        update(Group).where(Group.id == group.id, Group.member_count < Group.member_cap)
        .values(member_count=Group.member_count + 1).execution_options(synchronize_session=False))
    if bumped.rowcount != 1:  # type: ignore[attr-defined]
        raise QunguanError("group_full", "The group is full.", member_cap=group.member_cap)
    uow.session.refresh(group, ["member_count"])
    row = Membership(group_id=group.id, account_id=account.id, role=role, joined_at=uow.now(),
                     rules_version_ack=rules_version, rules_ack_at=uow.now())
    try:
        with uow.savepoint():
            uow.session.add(row)
            uow.session.flush()
    except IntegrityError:  # joined at the same moment by another way (request, invitation)
        raise QunguanError("already_member", "Already a member of this group.") from None
    return row


def _lock_group(uow: UnitOfWork, group_id: int) -> Group:
    """Every join of a group takes the group's row lock first, then the request or the
    invitation: one order, so two ways of letting the same account in cannot deadlock, and
    the later one sees what the earlier did (a no-op on SQLite, whose writers queue anyway)."""
    group = uow.session.get(Group, group_id, with_for_update=True, populate_existing=True)
    assert group is not None
    return group


def _check_rules_ack(group: Group, rules_version: int | None) -> int:
    """GA-9: joining acknowledges the group rules in force, by version."""
    if rules_version != group.rules_version:
        raise QunguanError("rules_not_acknowledged", "Read and acknowledge the group rules.",
                           rules_version=group.rules_version)
    return rules_version


def _joined(uow: UnitOfWork, group: Group, acting: Account, member: Membership,
            via: str, **extra: Any) -> None:
    _settle_pending(uow, group, member.account_id)
    _audit(uow, EventType.MEMBER_JOINED, acting, group, member.account_id, via=via,
           rules_version=member.rules_version_ack, **extra)
    uow.emit(EventType.MEMBER_JOINED, group_id=group.id, account_ids=(member.account_id,),
             account_id=member.account_id, role=member.role)


def _settle_pending(uow: UnitOfWork, group: Group, account_id: int) -> None:
    """Close the new member's other pending requests and invitations to this group: left
    open, a stale one would readmit them after a removal without any admin deciding."""
    now = uow.now()
    for request in uow.session.scalars(select(JoinRequest).where(
            JoinRequest.group_id == group.id, JoinRequest.account_id == account_id,
            JoinRequest.status == RequestStatus.PENDING)):
        request.status = RequestStatus.SUPERSEDED
        request.decided_at = now
    for invitation in uow.session.scalars(select(Invitation).where(
            Invitation.group_id == group.id, Invitation.invitee_id == account_id,
            Invitation.status == RequestStatus.PENDING)):
        invitation.status = RequestStatus.SUPERSEDED
        invitation.decided_at = now


def do_create_group(uow: UnitOfWork, *, acting: Account, name: str, category: Category,
                    tier: int, join_policy: JoinPolicy, rules_text: str,
                    member_cap: int | None) -> Group:
    identity_queries.require_verified(acting)
    name = require_storable(name, "name").strip()
    require_storable(rules_text, "rules_text")
    if not 1 <= len(name) <= 64:
        raise QunguanError("invalid_request", "A group name has 1 to 64 characters.",
                           fields=["name"])
    if len(rules_text) > MAX_RULES_CHARS:
        raise QunguanError("invalid_request", "The rules are too long.", fields=["rules_text"])
    settings = uow.settings
    founded = int(uow.session.scalar(select(func.count(Group.id)).where(
        Group.founder_id == acting.id)) or 0)
    if founded >= settings.max_groups_created:
        raise QunguanError("too_many_groups_created", "You have founded as many groups as "
                           "allowed.", max=settings.max_groups_created)
    cap = min(member_cap or settings.max_group_members, settings.max_group_members)
    require_allowed(uow, account_id=acting.id, function=Function.CREATE_GROUP)
    if cap > settings.credit_large_group_members:  # EC-1: large groups need good credit
        require_allowed(uow, account_id=acting.id, function=Function.FOUND_LARGE_GROUP)
    for _ in range(5):
        group = Group(code=new_code(), name=name, category=category, tier=tier,
                      founder_id=acting.id, join_policy=join_policy, member_cap=cap,
                      member_count=0, posting_suspended=False, rules_text=rules_text.strip(),
                      rules_version=1, created_at=uow.now())
        try:
            with uow.savepoint():
                uow.session.add(group)
                uow.session.flush()
            break
        except IntegrityError:  # a code collision (40 random bits): draw again
            continue
    else:
        raise RuntimeError("could not draw a unique group code")
    founder = _add_member(uow, group, acting, Role.FOUNDER, group.rules_version)
    # The rules text is kept because members acknowledge it by version (GA-9).
    _audit(uow, EventType.GROUP_CREATED, acting, group, code=group.code, name=group.name,
           category=str(category), tier=tier, member_cap=cap, rules_text=group.rules_text)
    uow.emit(EventType.GROUP_CREATED, group_id=group.id, account_ids=(acting.id,),
             code=group.code, category=str(category))
    _joined(uow, group, acting, founder, "founder")
    return group


def do_request_join(uow: UnitOfWork, *, acting: Account, code: str, note: str | None,
                    rules_version: int | None) -> JoinRequest:
    group = group_by_code(uow, code)
    if group.join_policy == JoinPolicy.INVITE_ONLY:
        raise QunguanError("forbidden", "This group admits members by invitation only.")
    # Asked now, not only on approval: a closed group or a suspended applicant must not
    # leave requests for its admins to pile up.
    require_allowed(uow, account_id=acting.id, function=Function.JOIN, group_id=group.id)
    if membership(uow, group.id, acting.id) is not None:
        raise QunguanError("already_member", "Already a member of this group.")
    version = _check_rules_ack(group, rules_version)
    pending = uow.session.scalar(select(JoinRequest).where(
        JoinRequest.group_id == group.id, JoinRequest.account_id == acting.id,
        JoinRequest.status == RequestStatus.PENDING))
    if pending is not None:
        raise QunguanError("conflict", "A request to join is already pending.",
                           request_id=pending.id)
    row = JoinRequest(group_id=group.id, account_id=acting.id, status=RequestStatus.PENDING,
                      note=optional_text(note), rules_version_ack=version,
                      created_at=uow.now())
    uow.session.add(row)
    uow.session.flush()
    record_audit(uow, EventType.JOIN_REQUESTED, acting=acting, subject_type="join_request",
                 subject_id=row.id, group_id=group.id)
    # Only those who decide learn of the applicant; members are not told who asked.
    uow.emit(EventType.JOIN_REQUESTED, account_ids=tuple(manager_ids(uow, group.id)),
             group_id=None, request_id=row.id, account_id=acting.id, target_group_id=group.id)
    return row


def do_decide_join(uow: UnitOfWork, *, acting: Account, group_id: int, request_id: int,
                   approve: bool) -> JoinRequest:
    group, _ = require_manager(uow, viewer=acting, group_id=group_id)
    group = _lock_group(uow, group.id)
    # Locked too, so that two admins deciding at once cannot both act on it.
    row = uow.session.get(JoinRequest, request_id, with_for_update=True, populate_existing=True)
    if row is None or row.group_id != group.id:
        raise QunguanError("not_found", "No such join request.")
    if row.status != RequestStatus.PENDING:
        raise QunguanError("conflict", "This request was already decided.", status=row.status)
    row.decided_at = uow.now()
    row.decided_by = acting.id
    applicant = identity_queries.get_account(uow, row.account_id)
    if approve:
        member = _add_member(uow, group, applicant, Role.MEMBER, row.rules_version_ack)
        row.status = RequestStatus.APPROVED
        _audit(uow, EventType.JOIN_APPROVED, acting, group, applicant.id, request_id=row.id)
        uow.emit(EventType.JOIN_APPROVED, group_id=group.id, account_ids=(applicant.id,),
                 request_id=row.id, account_id=applicant.id)
        _joined(uow, group, acting, member, "request", request_id=row.id)
    else:
        row.status = RequestStatus.REJECTED
        _audit(uow, EventType.JOIN_REJECTED, acting, group, applicant.id, request_id=row.id)
        uow.emit(EventType.JOIN_REJECTED, account_ids=(applicant.id,), group_id=None,
                 request_id=row.id)
    return row


def do_invite(uow: UnitOfWork, *, acting: Account, group_id: int,
              account_id: int) -> Invitation:
    group, _ = require_manager(uow, viewer=acting, group_id=group_id)
    invitee = identity_queries.get_account(uow, account_id)
    if membership(uow, group.id, invitee.id) is not None:
        raise QunguanError("already_member", "Already a member of this group.")
    existing = uow.session.scalar(select(Invitation).where(
        Invitation.group_id == group.id, Invitation.invitee_id == invitee.id,
        Invitation.status == RequestStatus.PENDING))
    if existing is not None:
        return existing
    row = Invitation(group_id=group.id, inviter_id=acting.id, invitee_id=invitee.id,
                     status=RequestStatus.PENDING, created_at=uow.now())
    uow.session.add(row)
    uow.session.flush()
    _audit(uow, EventType.MEMBER_INVITED, acting, group, invitee.id, invitation_id=row.id)
    uow.emit(EventType.MEMBER_INVITED, account_ids=(invitee.id,), invitation_id=row.id,
             invited_group_id=group.id)
    return row


def do_accept_invitation(uow: UnitOfWork, *, acting: Account, invitation_id: int,
                         rules_version: int | None) -> Membership:
    row = uow.session.get(Invitation, invitation_id)
    if row is None or row.invitee_id != acting.id:
        raise QunguanError("not_found", "No such invitation.")
    group = _lock_group(uow, row.group_id)
    uow.session.refresh(row, with_for_update=True)
    if row.status != RequestStatus.PENDING:
        raise QunguanError("conflict", "This invitation was already used.", status=row.status)
    version = _check_rules_ack(group, rules_version)
    member = _add_member(uow, group, acting, Role.MEMBER, version)
    row.status = RequestStatus.ACCEPTED
    row.decided_at = uow.now()
    _joined(uow, group, acting, member, "invitation", invitation_id=row.id)
    return member


def _target(uow: UnitOfWork, acting: Account, group_id: int, account_id: int,
            founder_only: bool = False) -> tuple[Group, Membership, Membership]:
    """The group, the actor's membership and the target's, if the actor outranks them."""
    group, mine = require_manager(uow, viewer=acting, group_id=group_id,
                                  founder_only=founder_only)
    theirs = membership(uow, group.id, account_id)
    if theirs is None:
        raise QunguanError("not_member", "That account is not a member of the group.")
    if Role(theirs.role).rank >= Role(mine.role).rank:
        raise QunguanError("forbidden", "You can act only on members below your role.")
    return group, mine, theirs


def _drop_member(uow: UnitOfWork, group: Group, member: Membership) -> None:
    """Delete the membership and decrement the count only if this transaction deleted it:
    two admins removing the same member (or a removal racing a leave) count once."""
    _lock_group(uow, group.id)
    deleted = uow.session.execute(delete(Membership).where(Membership.id == member.id)
                                  .execution_options(synchronize_session=False))
    if deleted.rowcount != 1:  # type: ignore[attr-defined]
        raise QunguanError("not_member", "That account is no longer a member of the group.")
    uow.session.expunge(member)
    uow.session.execute(update(Group).where(Group.id == group.id).values(
        member_count=Group.member_count - 1).execution_options(synchronize_session=False))
    uow.session.refresh(group, ["member_count"])


def do_remove_member(uow: UnitOfWork, *, acting: Account, group_id: int, account_id: int,
                     reason: str | None) -> None:
    group, _, theirs = _target(uow, acting, group_id, account_id)
    _drop_member(uow, group, theirs)
    _audit(uow, EventType.MEMBER_REMOVED, acting, group, account_id,
           reason=optional_text(reason))
    uow.emit(EventType.MEMBER_REMOVED, group_id=group.id, account_ids=(account_id,),
             account_id=account_id)


def do_leave(uow: UnitOfWork, *, acting: Account, group_id: int) -> None:
    group, mine = access_membership(uow, viewer=acting, group_id=group_id)
    if mine.role == Role.FOUNDER:
        raise QunguanError("founder_cannot_leave", "Transfer the group to another member "
                           "before leaving.")
    _drop_member(uow, group, mine)
    _audit(uow, EventType.MEMBER_LEFT, acting, group, acting.id)
    uow.emit(EventType.MEMBER_LEFT, group_id=group.id, account_ids=(acting.id,),
             account_id=acting.id)


def do_mute(uow: UnitOfWork, *, acting: Account, group_id: int, account_id: int,
            seconds: int, reason: str | None) -> Membership:
    if not 1 <= seconds <= MAX_MUTE_SECONDS:
        raise QunguanError("invalid_request", "Mute for 1 second to 30 days.",
                           fields=["seconds"])
    group, _, theirs = _target(uow, acting, group_id, account_id)
    until: datetime = uow.now() + timedelta(seconds=seconds)
    theirs.muted_until = until
    _audit(uow, EventType.MEMBER_MUTED, acting, group, account_id, until=until.isoformat(),
           reason=optional_text(reason))
    uow.emit(EventType.MEMBER_MUTED, group_id=group.id, account_ids=(account_id,),
             account_id=account_id, until=until.isoformat())
    return theirs


def do_unmute(uow: UnitOfWork, *, acting: Account, group_id: int,
              account_id: int) -> Membership:
    group, _, theirs = _target(uow, acting, group_id, account_id)
    theirs.muted_until = None
    _audit(uow, EventType.MEMBER_UNMUTED, acting, group, account_id)
    uow.emit(EventType.MEMBER_UNMUTED, group_id=group.id, account_ids=(account_id,),
             account_id=account_id)
    return theirs


def do_pin_rules(uow: UnitOfWork, *, acting: Account, group_id: int, text: str) -> Group:
    require_manager(uow, viewer=acting, group_id=group_id)
    group = _lock_group(uow, group_id)  # two pins must not share a version number
    text = require_storable(text, "text").strip()
    if not text or len(text) > MAX_RULES_CHARS:
        raise QunguanError("invalid_request", "Rules need 1 to 5000 characters.",
                           fields=["text"])
    group.rules_text = text
    group.rules_version += 1
    _audit(uow, EventType.RULES_PINNED, acting, group, rules_version=group.rules_version,
           text=text)
    uow.emit(EventType.RULES_PINNED, group_id=group.id, rules_version=group.rules_version)
    return group


def do_acknowledge_rules(uow: UnitOfWork, *, acting: Account, group_id: int,
                         rules_version: int | None) -> Membership:
    """GA-9 for members already in: acknowledge the rules pinned since they joined, by the
    version they were shown (a newer pin in between answers rules_not_acknowledged)."""
    group, member = access_membership(uow, viewer=acting, group_id=group_id)
    version = _check_rules_ack(group, rules_version)
    if member.rules_version_ack == version:
        return member
    member.rules_version_ack = version
    member.rules_ack_at = uow.now()
    _audit(uow, EventType.RULES_ACKNOWLEDGED, acting, group, acting.id, rules_version=version)
    uow.emit(EventType.RULES_ACKNOWLEDGED, account_ids=(acting.id,), group_id=None,
             target_group_id=group.id, rules_version=version)
    return member


def do_set_role(uow: UnitOfWork, *, acting: Account, group_id: int, account_id: int,
                role: Role) -> Membership:
    if role == Role.FOUNDER:
        raise QunguanError("invalid_request", "Use the founder transfer to hand over a group.",
                           fields=["role"])
    group, _, theirs = _target(uow, acting, group_id, account_id, founder_only=True)
    old = theirs.role
    theirs.role = role
    _audit(uow, EventType.ROLE_CHANGED, acting, group, account_id, old=old, new=str(role))
    uow.emit(EventType.ROLE_CHANGED, group_id=group.id, account_ids=(account_id,),
             account_id=account_id, role=str(role))
    return theirs


def do_transfer_founder(uow: UnitOfWork, *, acting: Account, group_id: int,
                        account_id: int) -> Group:
    group, mine, theirs = _target(uow, acting, group_id, account_id, founder_only=True)
    heir = identity_queries.get_account(uow, account_id)
    identity_queries.require_verified(heir)  # a founder answers for the group (GA-5)
    # The heir must be free to found this group: not barred from founding (revoke_founding,
    # suspension), and with the credit a large group needs (EC-1).
    require_allowed(uow, account_id=heir.id, function=Function.CREATE_GROUP)
    if group.member_cap > uow.settings.credit_large_group_members:
        require_allowed(uow, account_id=heir.id, function=Function.FOUND_LARGE_GROUP)
    mine.role = Role.ADMIN
    theirs.role = Role.FOUNDER
    group.founder_id = heir.id
    _audit(uow, EventType.FOUNDER_TRANSFERRED, acting, group, heir.id, previous=acting.id)
    uow.emit(EventType.FOUNDER_TRANSFERRED, group_id=group.id, account_ids=(heir.id,),
             founder_id=heir.id, previous_founder_id=acting.id)
    return group


# --- election periods (PAY-3, PAY-4) ----------------------------------------------------------

define_error("election_invalid", 422, "The election declaration does not hold together; "
             "details.problem names the part (dates, vote_at, scope_target, associate_of, ...).")

MAX_ELECTION_DAYS = 366
MAX_CANDIDATES = 500


def _election_error(message: str, problem: str, **details: Any) -> QunguanError:
    return QunguanError("election_invalid", message, problem=problem, **details)


def _election_target(uow: UnitOfWork, scope: ElectionScope, group_id: int | None,
                     category: Category | None, org_unit: str | None) -> dict[str, Any]:
    """Exactly the field the scope needs, checked; the others empty."""
    given = {"group_id": group_id, "category": category, "org_unit": org_unit}
    needed = {ElectionScope.GROUP: "group_id", ElectionScope.CATEGORY: "category",
              ElectionScope.ORG_UNIT: "org_unit"}[scope]
    extra = [k for k, v in given.items() if v is not None and k != needed]
    if given[needed] is None or extra:
        raise _election_error(f"An election of scope {scope} names {needed} and nothing else.",
                              "scope_target", needed=needed, unexpected=extra)
    if scope == ElectionScope.GROUP and uow.session.get(Group, group_id) is None:
        raise QunguanError("not_found", "No such group.")
    if scope == ElectionScope.ORG_UNIT:
        unit = require_storable(org_unit or "", "org_unit").strip()
        if not 1 <= len(unit) <= 64:
            raise _election_error("An organisational unit has 1 to 64 characters.",
                                  "org_unit")
        given["org_unit"] = unit
    return {needed: given[needed] if needed != "category" else str(category)}


def do_declare_election(uow: UnitOfWork, *, acting: Account, name: str, scope: ElectionScope,
                        starts_at: datetime, ends_at: datetime, vote_at: datetime | None = None,
                        policy: ElectionPolicy | None = None, group_id: int | None = None,
                        category: Category | None = None, org_unit: str | None = None,
                        candidate_ids: list[int] | None = None,
                        associates: dict[int, int] | None = None) -> ElectionPeriod:
    """An officer declares an election (PAY-3): from ``starts_at`` to ``ends_at`` red
    envelopes in the covered groups fall under ``policy`` (default
    QUNGUAN_ELECTION_DEFAULT_POLICY; strict categories never below
    QUNGUAN_ELECTION_STRICT_POLICY, PAY-4). ``associates`` maps an associate's account to
    the candidate they act for."""
    identity_queries.require_officer(acting)
    name = require_storable(name, "name").strip()
    if not 1 <= len(name) <= 200:
        raise _election_error("An election name has 1 to 200 characters.", "name")
    vote_at = vote_at or ends_at
    if not starts_at < ends_at:
        raise _election_error("An election ends after it starts.", "dates")
    if not starts_at <= vote_at <= ends_at:
        raise _election_error("The vote falls within the election period.", "vote_at")
    if ends_at - starts_at > timedelta(days=MAX_ELECTION_DAYS):
        raise _election_error(f"An election period lasts at most {MAX_ELECTION_DAYS} days.",
                              "too_long", max_days=MAX_ELECTION_DAYS)
    target = _election_target(uow, scope, group_id, category, org_unit)
    candidate_ids = list(dict.fromkeys(candidate_ids or []))
    associates = dict(associates or {})
    for associate, candidate in associates.items():
        if candidate not in candidate_ids:
            raise _election_error("An associate acts for one of the election's candidates.",
                                  "associate_of", account_id=associate)
        if associate in candidate_ids:
            raise _election_error("A candidate is not also an associate.", "associate_of",
                                  account_id=associate)
    people = candidate_ids + list(associates)
    if len(people) > MAX_CANDIDATES:
        raise _election_error(f"At most {MAX_CANDIDATES} candidates and associates.",
                              "too_many_candidates", max=MAX_CANDIDATES)
    known = identity_queries.accounts_by_ids(uow, people)
    missing = [a for a in people if a not in known]
    if missing:
        raise _election_error("Every candidate and associate is an account.",
                              "unknown_account", account_ids=missing)
    chosen = policy or ElectionPolicy(uow.settings.election_default_policy)
    election = ElectionPeriod(name=name, scope=str(scope), policy=str(chosen),
                              starts_at=starts_at, ends_at=ends_at, vote_at=vote_at,
                              declared_by=acting.id, created_at=uow.now(), **target)
    uow.session.add(election)
    uow.session.flush()
    for account_id in candidate_ids:
        uow.session.add(ElectionCandidate(election_id=election.id, account_id=account_id,
                                          role=CandidateRole.CANDIDATE))
    for account_id, candidate_id in associates.items():
        uow.session.add(ElectionCandidate(election_id=election.id, account_id=account_id,
                                          role=CandidateRole.ASSOCIATE,
                                          candidate_id=candidate_id))
    uow.session.flush()
    extra: dict[str, Any] = {
        "name": name, "scope": str(scope), **{k: str(v) for k, v in target.items()},
        "policy": str(chosen), "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(), "vote_at": vote_at.isoformat(),
        "candidate_ids": candidate_ids,
        "associates": {str(k): v for k, v in associates.items()}}
    record_audit(uow, EventType.ELECTION_DECLARED, acting=acting, subject_type="election",
                 subject_id=election.id, group_id=group_id, extra=extra)
    # Not delivered to members (no group_id, no accounts): officers read it in the audit log.
    payload = {("target_group_id" if k == "group_id" else k): v for k, v in extra.items()}
    uow.emit(EventType.ELECTION_DECLARED, election_id=election.id, **payload)
    return election


def do_cancel_election(uow: UnitOfWork, *, acting: Account, election_id: int,
                       reason: str) -> ElectionPeriod:
    election = access_election(uow, viewer=acting, election_id=election_id)
    reason = require_storable(reason, "reason").strip()
    if not reason:
        raise _election_error("Give a reason for cancelling the election.", "reason")
    if election.cancelled_at is not None:
        raise _election_error("The election was already cancelled.", "already_cancelled")
    election.cancelled_at = uow.now()
    election.cancel_reason = reason[:500]
    record_audit(uow, EventType.ELECTION_CANCELLED, acting=acting, subject_type="election",
                 subject_id=election.id, group_id=election.group_id,
                 extra={"reason": election.cancel_reason})
    uow.emit(EventType.ELECTION_CANCELLED, election_id=election.id)
    return election


def do_set_org_unit(uow: UnitOfWork, *, acting: Account, group_id: int,
                    org_unit: str | None) -> Group:
    """An officer places a group in an organisational unit (or takes it out: None)."""
    identity_queries.require_officer(acting)
    group = uow.session.get(Group, group_id)
    if group is None:
        raise QunguanError("not_found", "No such group.")
    unit = require_storable(org_unit, "org_unit").strip() if org_unit is not None else None
    if unit is not None and not 1 <= len(unit) <= 64:
        raise QunguanError("invalid_request", "An organisational unit has 1 to 64 characters.",
                           fields=["org_unit"])
    old, group.org_unit = group.org_unit, unit or None
    _audit(uow, EventType.GROUP_ORG_UNIT_SET, acting, group, old=old, new=group.org_unit)
    uow.emit(EventType.GROUP_ORG_UNIT_SET, target_group_id=group.id, org_unit=group.org_unit)
    return group
