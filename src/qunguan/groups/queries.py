"""Reads of groups. ``access_*`` answers not_found for missing and forbidden alike."""

from __future__ import annotations

from sqlalchemy import select

from qunguan.groups.models import Group, Invitation, JoinRequest, Membership, RequestStatus, Role
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.restrictions import Function, require_allowed
from qunguan.kernel.uow import UnitOfWork


def _not_found() -> QunguanError:
    return QunguanError("not_found", "No such group.")


def membership(uow: UnitOfWork, group_id: int, account_id: int) -> Membership | None:
    return uow.session.scalar(select(Membership).where(
        Membership.group_id == group_id, Membership.account_id == account_id))


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


def all_groups(uow: UnitOfWork, *, viewer: Account) -> list[Group]:
    """Officer overview of every group (GA-3, GA-4)."""
    if not viewer.is_officer:
        raise QunguanError("forbidden", "Only officers may list every group.")
    return list(uow.session.scalars(select(Group).order_by(Group.id)))
