"""Reads of groups. ``access_*`` answers not_found for missing and forbidden alike."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select

from qunguan.groups.models import (
    Category,
    ElectionCandidate,
    ElectionPeriod,
    ElectionPolicy,
    ElectionScope,
    Group,
    Invitation,
    JoinRequest,
    Membership,
    RequestStatus,
    Role,
)
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.restrictions import Function, require_allowed
from qunguan.kernel.uow import UnitOfWork


def _not_found() -> QunguanError:
    return QunguanError("not_found", "No such group.")


def membership(uow: UnitOfWork, group_id: int, account_id: int) -> Membership | None:
    return uow.session.scalar(select(Membership).where(
        Membership.group_id == group_id, Membership.account_id == account_id))


def roles_of(uow: UnitOfWork, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """The role of each (group_id, account_id) pair that is a membership, in one query."""
    if not pairs:
        return {}
    groups = {g for g, _ in pairs}
    accounts = {a for _, a in pairs}
    rows = uow.session.execute(select(Membership.group_id, Membership.account_id,
                                      Membership.role).where(
        Membership.group_id.in_(groups), Membership.account_id.in_(accounts)))
    return {(g, a): role for g, a, role in rows if (g, a) in pairs}


def access_group(uow: UnitOfWork, *, viewer: Account, group_id: int) -> Group:
    """The group, if the viewer is a member or an officer."""
    group = uow.session.get(Group, group_id)
    if group is None:
        raise _not_found()
    if not viewer.is_officer and membership(uow, group_id, viewer.id) is None:
        raise _not_found()
    return group


def access_membership(uow: UnitOfWork, *, viewer: Account,
                      group_id: int) -> tuple[Group, Membership]:
    """The group and the viewer's own membership; not_found if they are not a member."""
    found = uow.session.execute(select(Group, Membership).join(
        Membership, Membership.group_id == Group.id).where(
        Group.id == group_id, Membership.account_id == viewer.id)).first()
    if found is None:
        raise _not_found()
    return found[0], found[1]


def group_by_code(uow: UnitOfWork, code: str) -> Group:
    """The info card of a group (GA-3): anyone holding its code may see it to ask to join."""
    group = uow.session.scalar(select(Group).where(Group.code == code.strip().upper()))
    if group is None:
        raise _not_found()
    return group


def my_groups(uow: UnitOfWork, viewer: Account) -> list[tuple[Group, Membership]]:
    rows = uow.session.execute(select(Group, Membership).join(
        Membership, Membership.group_id == Group.id).where(
        Membership.account_id == viewer.id).order_by(Group.id))
    return [(g, m) for g, m in rows]


def members(uow: UnitOfWork, *, viewer: Account, group_id: int) -> list[Membership]:
    access_group(uow, viewer=viewer, group_id=group_id)
    return list(uow.session.scalars(select(Membership).where(
        Membership.group_id == group_id).order_by(Membership.id)))


def member_ids(uow: UnitOfWork, group_id: int) -> list[int]:
    return list(uow.session.scalars(select(Membership.account_id).where(
        Membership.group_id == group_id)))


def manager_ids(uow: UnitOfWork, group_id: int) -> list[int]:
    """The founder and admins of a group."""
    return list(uow.session.scalars(select(Membership.account_id).where(
        Membership.group_id == group_id, Membership.role.in_([Role.FOUNDER, Role.ADMIN]))
        .order_by(Membership.account_id)))


def member_group_ids(uow: UnitOfWork, account_id: int) -> set[int]:
    return set(uow.session.scalars(select(Membership.group_id).where(
        Membership.account_id == account_id)))


def require_manager(uow: UnitOfWork, *, viewer: Account, group_id: int,
                    founder_only: bool = False) -> tuple[Group, Membership]:
    """The viewer's group and membership if they are an admin (or the founder)."""
    group, mine = access_membership(uow, viewer=viewer, group_id=group_id)
    needed = Role.FOUNDER.rank if founder_only else Role.ADMIN.rank
    if Role(mine.role).rank < needed:
        raise QunguanError("forbidden", "Only the founder may do this." if founder_only
                           else "Only the group's founder and admins may do this.")
    require_allowed(uow, account_id=viewer.id, function=Function.GROUP_ADMIN, group_id=group_id)
    return group, mine


def join_requests(uow: UnitOfWork, *, viewer: Account, group_id: int,
                  status: str | None = RequestStatus.PENDING) -> list[JoinRequest]:
    require_manager(uow, viewer=viewer, group_id=group_id)
    stmt = select(JoinRequest).where(JoinRequest.group_id == group_id)
    if status:
        stmt = stmt.where(JoinRequest.status == status)
    return list(uow.session.scalars(stmt.order_by(JoinRequest.id)))


def my_invitations(uow: UnitOfWork, viewer: Account) -> list[Invitation]:
    return list(uow.session.scalars(select(Invitation).where(
        Invitation.invitee_id == viewer.id, Invitation.status == RequestStatus.PENDING)
        .order_by(Invitation.id)))


def my_invitations_with_groups(uow: UnitOfWork,
                               viewer: Account) -> list[tuple[Invitation, Group]]:
    """The viewer's pending invitations with the group each one is to: its card and rules,
    which the invitee reads and acknowledges before accepting (GA-9)."""
    rows = uow.session.execute(select(Invitation, Group).join(
        Group, Group.id == Invitation.group_id).where(
        Invitation.invitee_id == viewer.id, Invitation.status == RequestStatus.PENDING)
        .order_by(Invitation.id))
    return [(i, g) for i, g in rows]


def all_groups(uow: UnitOfWork, *, viewer: Account) -> list[Group]:
    """Officer overview of every group (GA-3, GA-4)."""
    if not viewer.is_officer:
        raise QunguanError("forbidden", "Only officers may list every group.")
    return list(uow.session.scalars(select(Group).order_by(Group.id)))


# --- election periods (PAY-3, PAY-4) ----------------------------------------------------------

# PAY-4: categories whose elections are never weaker than QUNGUAN_ELECTION_STRICT_POLICY and
# whose envelopes are capped by QUNGUAN_ENVELOPE_STRICT_MAX_FEN at all times.
STRICT_CATEGORIES = frozenset({Category.PARTY_BRANCH, Category.VILLAGE_COMMITTEE,
                               Category.GOVERNMENT_OFFICE})


def is_strict_category(category: str) -> bool:
    return category in STRICT_CATEGORIES


def _covers(group: Group) -> object:
    clauses = [and_(ElectionPeriod.scope == ElectionScope.GROUP,
                    ElectionPeriod.group_id == group.id),
               and_(ElectionPeriod.scope == ElectionScope.CATEGORY,
                    ElectionPeriod.category == group.category)]
    if group.org_unit:
        clauses.append(and_(ElectionPeriod.scope == ElectionScope.ORG_UNIT,
                            ElectionPeriod.org_unit == group.org_unit))
    return or_(*clauses)


def elections_covering(uow: UnitOfWork, group: Group, *, at: datetime | None = None,
                       lead_seconds: int = 0) -> list[ElectionPeriod]:
    """The elections (not cancelled) covering the group whose period contains ``at``
    (widened ``lead_seconds`` before the start); every one of them when ``at`` is None."""
    stmt = select(ElectionPeriod).where(_covers(group),  # type: ignore[arg-type]
                                        ElectionPeriod.cancelled_at.is_(None))
    if at is not None:
        stmt = stmt.where(ElectionPeriod.ends_at > at)
        rows = uow.session.scalars(stmt.order_by(ElectionPeriod.id))
        return [e for e in rows if (e.starts_at.timestamp() - lead_seconds) <= at.timestamp()]
    return list(uow.session.scalars(stmt.order_by(ElectionPeriod.id)))


def effective_policy(election: ElectionPeriod, group: Group, floor: str) -> ElectionPolicy:
    """The election's policy in this group: never weaker than ``floor`` in a strict
    category (PAY-4)."""
    policy = ElectionPolicy(election.policy)
    if is_strict_category(group.category) and ElectionPolicy(floor).strength > policy.strength:
        return ElectionPolicy(floor)
    return policy


def election_people(uow: UnitOfWork, election_ids: list[int]) -> list[ElectionCandidate]:
    """Candidates and declared associates of the elections."""
    if not election_ids:
        return []
    return list(uow.session.scalars(select(ElectionCandidate).where(
        ElectionCandidate.election_id.in_(election_ids)).order_by(ElectionCandidate.id)))


def access_election(uow: UnitOfWork, *, viewer: Account, election_id: int) -> ElectionPeriod:
    """Officers only; not_found for a missing election."""
    if not viewer.is_officer:
        raise QunguanError("forbidden", "Only officers may manage elections.")
    election = uow.session.get(ElectionPeriod, election_id)
    if election is None:
        raise QunguanError("not_found", "No such election.")
    return election


def list_elections(uow: UnitOfWork, *, viewer: Account) -> list[ElectionPeriod]:
    if not viewer.is_officer:
        raise QunguanError("forbidden", "Only officers may manage elections.")
    return list(uow.session.scalars(select(ElectionPeriod).order_by(ElectionPeriod.id.desc())))


def groups_covered(uow: UnitOfWork, election: ElectionPeriod) -> list[Group]:
    stmt = select(Group)
    if election.scope == ElectionScope.GROUP:
        stmt = stmt.where(Group.id == election.group_id)
    elif election.scope == ElectionScope.CATEGORY:
        stmt = stmt.where(Group.category == election.category)
    else:
        stmt = stmt.where(Group.org_unit == election.org_unit)
    return list(uow.session.scalars(stmt.order_by(Group.id)))


def render_election(uow: UnitOfWork, election: ElectionPeriod) -> dict[str, object]:
    """The election with its candidates and associates by display name, and the groups it
    covers now."""
    people = election_people(uow, [election.id])
    names = identity_queries.accounts_by_ids(uow, [p.account_id for p in people])
    return {
        "id": election.id, "name": election.name, "scope": election.scope,
        "group_id": election.group_id, "category": election.category,
        "org_unit": election.org_unit, "policy": election.policy,
        "starts_at": election.starts_at, "ends_at": election.ends_at,
        "vote_at": election.vote_at, "declared_by": election.declared_by,
        "created_at": election.created_at, "cancelled_at": election.cancelled_at,
        "cancel_reason": election.cancel_reason,
        "people": [{"account_id": p.account_id, "role": p.role, "candidate_id": p.candidate_id,
                    "display_name": names[p.account_id].display_name
                    if p.account_id in names else "?"} for p in people],
        "group_ids": [g.id for g in groups_covered(uow, election)],
    }
