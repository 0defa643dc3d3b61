"""Groups API: create, join, invite, and the admin toolset (GA-1..GA-9)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from qunguan.groups import actions, queries
from qunguan.groups.models import ElectionPeriod, Group, Membership, Role
from qunguan.groups.schemas import (
    AcceptIn,
    DecisionIn,
    ElectionCancelIn,
    ElectionCreate,
    ElectionPublic,
    GroupCreate,
    GroupPublic,
    InvitationPublic,
    InviteIn,
    JoinRequestIn,
    JoinRequestPublic,
    MemberPublic,
    MuteIn,
    MyGroup,
    OrgUnitIn,
    RemoveIn,
    RoleIn,
    RulesIn,
    TransferIn,
)
from qunguan.identity import CurrentAccount
from qunguan.identity import queries as identity_queries
from qunguan.kernel.web import IdPath, UowDep

router = APIRouter(prefix="/api", tags=["groups"])



@router.post("/groups", status_code=201, response_model=GroupPublic)
def create_group(body: GroupCreate, uow: UowDep, me: CurrentAccount) -> Group:
    return actions.do_create_group(uow, acting=me, name=body.name, category=body.category,
                                   tier=body.tier, join_policy=body.join_policy,
                                   rules_text=body.rules_text, member_cap=body.member_cap)


@router.get("/groups", response_model=list[MyGroup])
def list_my_groups(uow: UowDep, me: CurrentAccount) -> list[MyGroup]:
    return [MyGroup(group=GroupPublic.model_validate(g), role=m.role, muted_until=m.muted_until)
            for g, m in queries.my_groups(uow, me)]


@router.get("/groups/by-code/{code}", response_model=GroupPublic)
def get_group_by_code(code: str, uow: UowDep, me: CurrentAccount) -> Group:
    return queries.group_by_code(uow, code)


@router.get("/groups/{group_id}", response_model=GroupPublic)
def get_group(group_id: IdPath, uow: UowDep, me: CurrentAccount) -> Group:
    return queries.access_group(uow, viewer=me, group_id=group_id)


@router.get("/groups/{group_id}/members", response_model=list[MemberPublic])
def list_members(group_id: IdPath, uow: UowDep, me: CurrentAccount) -> list[MemberPublic]:
    rows = queries.members(uow, viewer=me, group_id=group_id)
    accounts = identity_queries.accounts_by_ids(uow, [m.account_id for m in rows])
    show_ip = uow.settings.show_ip_province
    return [MemberPublic(account_id=m.account_id, display_name=accounts[m.account_id].display_name,
                         avatar_text=accounts[m.account_id].avatar_text, role=m.role,
                         badge=Role(m.role).badge,
                         verified=accounts[m.account_id].is_verified,
                         muted_until=m.muted_until,
                         ip_province=accounts[m.account_id].ip_province if show_ip else None)
            for m in rows]


@router.post("/groups/by-code/{code}/join-requests", status_code=201,
             response_model=JoinRequestPublic)
def request_join(code: str, uow: UowDep, me: CurrentAccount,
                 body: JoinRequestIn | None = None) -> Any:
    # No body at all is answered like an empty one: rules_not_acknowledged names the version.
    body = body or JoinRequestIn()
    return actions.do_request_join(uow, acting=me, code=code, note=body.note,
                                   rules_version=body.rules_version)


@router.get("/groups/{group_id}/join-requests", response_model=list[JoinRequestPublic])
def list_join_requests(group_id: IdPath, uow: UowDep, me: CurrentAccount) -> Any:
    return queries.join_requests(uow, viewer=me, group_id=group_id)


@router.post("/groups/{group_id}/join-requests/{request_id}/decision",
             response_model=JoinRequestPublic)
def decide_join(group_id: IdPath, request_id: IdPath, body: DecisionIn, uow: UowDep,
                me: CurrentAccount) -> Any:
    return actions.do_decide_join(uow, acting=me, group_id=group_id, request_id=request_id,
                                  approve=body.approve)


@router.post("/groups/{group_id}/invitations", status_code=201,
             response_model=InvitationPublic)
def invite(group_id: IdPath, body: InviteIn, uow: UowDep, me: CurrentAccount) -> Any:
    return actions.do_invite(uow, acting=me, group_id=group_id, account_id=body.account_id)


@router.get("/me/invitations", response_model=list[InvitationPublic])
def my_invitations(uow: UowDep, me: CurrentAccount) -> Any:
    return queries.my_invitations(uow, me)


@router.post("/me/invitations/{invitation_id}/accept", response_model=MyGroup)
def accept_invitation(invitation_id: IdPath, uow: UowDep, me: CurrentAccount,
                      body: AcceptIn | None = None) -> MyGroup:
    body = body or AcceptIn()
    member: Membership = actions.do_accept_invitation(uow, acting=me, invitation_id=invitation_id,
                                                      rules_version=body.rules_version)
    group = queries.access_group(uow, viewer=me, group_id=member.group_id)
    return MyGroup(group=GroupPublic.model_validate(group), role=member.role,
                   muted_until=member.muted_until)


@router.post("/groups/{group_id}/members/{account_id}/remove", status_code=204)
def remove_member(group_id: IdPath, account_id: IdPath, uow: UowDep, me: CurrentAccount,
                  body: RemoveIn | None = None) -> Response:
    actions.do_remove_member(uow, acting=me, group_id=group_id, account_id=account_id,
                             reason=body.reason if body else None)
    return Response(status_code=204)


@router.post("/groups/{group_id}/leave", status_code=204)
def leave(group_id: IdPath, uow: UowDep, me: CurrentAccount) -> Response:
    actions.do_leave(uow, acting=me, group_id=group_id)
    return Response(status_code=204)


@router.post("/groups/{group_id}/members/{account_id}/mute", status_code=204)
def mute(group_id: IdPath, account_id: IdPath, body: MuteIn, uow: UowDep,
         me: CurrentAccount) -> Response:
    actions.do_mute(uow, acting=me, group_id=group_id, account_id=account_id,
                    seconds=body.seconds, reason=body.reason)
    return Response(status_code=204)


@router.post("/groups/{group_id}/members/{account_id}/unmute", status_code=204)
def unmute(group_id: IdPath, account_id: IdPath, uow: UowDep, me: CurrentAccount) -> Response:
    actions.do_unmute(uow, acting=me, group_id=group_id, account_id=account_id)
    return Response(status_code=204)


@router.post("/groups/{group_id}/members/{account_id}/role", status_code=204)
def set_role(group_id: IdPath, account_id: IdPath, body: RoleIn, uow: UowDep,
             me: CurrentAccount) -> Response:
    actions.do_set_role(uow, acting=me, group_id=group_id, account_id=account_id, role=body.role)
    return Response(status_code=204)


@router.put("/groups/{group_id}/rules", response_model=GroupPublic)
def pin_rules(group_id: IdPath, body: RulesIn, uow: UowDep, me: CurrentAccount) -> Group:
    return actions.do_pin_rules(uow, acting=me, group_id=group_id, text=body.text)


@router.post("/groups/{group_id}/transfer", response_model=GroupPublic)
def transfer_founder(group_id: IdPath, body: TransferIn, uow: UowDep,
                     me: CurrentAccount) -> Group:
    return actions.do_transfer_founder(uow, acting=me, group_id=group_id,
                                       account_id=body.account_id)


@router.get("/officer/groups", response_model=list[GroupPublic])
def officer_groups(uow: UowDep, me: CurrentAccount) -> list[Group]:
    return queries.all_groups(uow, viewer=me)


# --- election periods (officers) ------------------------------------------------------------


def _election(uow: UowDep, election: ElectionPeriod) -> ElectionPublic:
    return ElectionPublic.model_validate(queries.render_election(uow, election))


@router.post("/officer/elections", status_code=201, response_model=ElectionPublic)
def declare_election(body: ElectionCreate, uow: UowDep, me: CurrentAccount) -> ElectionPublic:
    election = actions.do_declare_election(
        uow, acting=me, name=body.name, scope=body.scope, group_id=body.group_id,
        category=body.category, org_unit=body.org_unit, starts_at=body.starts_at,
        ends_at=body.ends_at, vote_at=body.vote_at, policy=body.policy,
        candidate_ids=body.candidate_ids,
        associates={a.account_id: a.candidate_id for a in body.associates})
    return _election(uow, election)


@router.get("/officer/elections", response_model=list[ElectionPublic])
def list_elections(uow: UowDep, me: CurrentAccount) -> list[ElectionPublic]:
    return [_election(uow, e) for e in queries.list_elections(uow, viewer=me)]


@router.get("/officer/elections/{election_id}", response_model=ElectionPublic)
def get_election(election_id: IdPath, uow: UowDep, me: CurrentAccount) -> ElectionPublic:
    return _election(uow, queries.access_election(uow, viewer=me, election_id=election_id))


@router.post("/officer/elections/{election_id}/cancel", response_model=ElectionPublic)
def cancel_election(election_id: IdPath, body: ElectionCancelIn, uow: UowDep,
                    me: CurrentAccount) -> ElectionPublic:
    return _election(uow, actions.do_cancel_election(uow, acting=me, election_id=election_id,
                                                     reason=body.reason))


@router.put("/officer/groups/{group_id}/org-unit", response_model=GroupPublic)
def set_org_unit(group_id: IdPath, body: OrgUnitIn, uow: UowDep, me: CurrentAccount) -> Group:
    return actions.do_set_org_unit(uow, acting=me, group_id=group_id, org_unit=body.org_unit)
