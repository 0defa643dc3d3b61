"""Joining by invitation (GA-6, GA-9) and the membership caps (GA-2)."""

from __future__ import annotations

from typing import Any

import pytest

from qunguan.groups import queries
from qunguan.groups.models import RequestStatus, Role
from qunguan.identity import queries as identity_queries
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, error_code
from tests.groups.conftest import (
    accept,
    counts,
    create_group,
    group_row,
    invitation_row,
    invite,
    last_audit,
    last_event,
    membership_count,
    membership_row,
    request_join,
)

INVITE_TYPES = (EventType.MEMBER_INVITED, EventType.MEMBER_JOINED)


def test_admin_invites_and_invitee_accepts(api: Api, cast: Cast, app: Any) -> None:
    inv = invite(api, cast.group, cast.admin, cast.outsider)
    assert (inv["group_id"], inv["inviter_id"], inv["invitee_id"], inv["status"]) == (
        cast.group["id"], cast.admin.id, cast.outsider.id, "pending")
    invited = last_audit(app, EventType.MEMBER_INVITED)
    assert invited.acting_id == cast.admin.id
    assert invited.group_id == cast.group["id"]
    assert (invited.subject_type, invited.subject_id) == ("account", str(cast.outsider.id))
    assert invited.extra == {"invitation_id": inv["id"]}
    event = last_event(app, EventType.MEMBER_INVITED)
    assert event.group_id is None  # only the invitee hears of it
    assert event.payload == {"invitation_id": inv["id"], "invited_group_id": cast.group["id"],
                             "account_ids": [cast.outsider.id]}

    r = api.get("/api/me/invitations", as_=cast.outsider)
    assert r.status_code == 200
    assert [i["id"] for i in r.json()] == [inv["id"]]
    assert api.get("/api/me/invitations", as_=cast.member2).json() == []

    r = accept(api, inv, cast.outsider, rules_version=1)
    assert r.status_code == 200, r.text
    mine = r.json()
    assert (mine["group"]["id"], mine["role"], mine["muted_until"]) == (
        cast.group["id"], "member", None)
    assert mine["group"]["member_count"] == 6
    assert group_row(app, cast.group["id"]).member_count == 6
    assert membership_count(app, cast.group["id"]) == 6
    row = membership_row(app, cast.group["id"], cast.outsider.id)
    assert row is not None
    assert (row.role, row.rules_version_ack) == (Role.MEMBER, 1)
    assert invitation_row(app, inv["id"]).status == RequestStatus.ACCEPTED
    assert api.get("/api/me/invitations", as_=cast.outsider).json() == []

    joined = last_audit(app, EventType.MEMBER_JOINED)
    assert joined.acting_id == cast.outsider.id
    assert joined.group_id == cast.group["id"]
    assert joined.subject_id == str(cast.outsider.id)
    assert joined.extra == {"via": "invitation", "rules_version": 1,
                            "invitation_id": inv["id"]}
    event = last_event(app, EventType.MEMBER_JOINED)
    assert event.group_id == cast.group["id"]
    assert event.payload == {"account_id": cast.outsider.id, "role": "member",
                             "account_ids": [cast.outsider.id]}


@pytest.mark.parametrize("body", [{}, {"rules_version": 2}, None])
def test_accepting_must_acknowledge_the_rules(api: Api, cast: Cast, app: Any,
                                              body: dict[str, Any] | None) -> None:
    inv = invite(api, cast.group, cast.founder, cast.outsider)
    before = counts(app, *INVITE_TYPES)
    kwargs = {} if body is None else {"json": body}
    r = api.post(f"/api/me/invitations/{inv['id']}/accept", as_=cast.outsider, **kwargs)
    assert r.status_code == 422, r.text
    assert error_code(r) == "rules_not_acknowledged"
    assert r.json()["error"]["details"] == {"rules_version": 1}
    assert counts(app, *INVITE_TYPES) == before
    assert invitation_row(app, inv["id"]).status == RequestStatus.PENDING
    assert membership_row(app, cast.group["id"], cast.outsider.id) is None


@pytest.mark.parametrize(("who", "status", "code"), [
    ("member", 403, "forbidden"), ("newcomer", 403, "forbidden"),
    ("outsider", 404, "not_found"), ("officer", 404, "not_found")])
def test_only_admins_invite(api: Api, cast: Cast, app: Any, who: str, status: int,
                           code: str) -> None:
    before = counts(app, *INVITE_TYPES)
    target = cast.member2 if who == "outsider" else cast.outsider
    r = api.post(f"/api/groups/{cast.group['id']}/invitations", as_=cast[who],
                 json={"account_id": target.id})
    assert r.status_code == status
    assert error_code(r) == code
    assert counts(app, *INVITE_TYPES) == before


def test_inviting_a_member_or_nobody(api: Api, cast: Cast) -> None:
    r = api.post(f"/api/groups/{cast.group['id']}/invitations", as_=cast.admin,
                 json={"account_id": cast.member.id})
    assert r.status_code == 409
    assert error_code(r) == "already_member"
    r = api.post(f"/api/groups/{cast.group['id']}/invitations", as_=cast.admin,
                 json={"account_id": 999999})
    assert r.status_code == 404
    assert error_code(r) == "not_found"


def test_inviting_twice_returns_the_pending_invitation(api: Api, cast: Cast, app: Any) -> None:
    first = invite(api, cast.group, cast.admin, cast.outsider)
    second = invite(api, cast.group, cast.founder, cast.outsider)
    assert second["id"] == first["id"]
    assert len(api.get("/api/me/invitations", as_=cast.outsider).json()) == 1
    last_audit(app, EventType.MEMBER_INVITED, count=5)  # four by the cast fixture


def test_someone_elses_invitation_is_not_found(api: Api, cast: Cast, app: Any) -> None:
    inv = invite(api, cast.group, cast.admin, cast.outsider)
    r = accept(api, inv, cast.officer, rules_version=1)
    assert r.status_code == 404
    assert error_code(r) == "not_found"
    r = api.post("/api/me/invitations/999999/accept", as_=cast.outsider,
                 json={"rules_version": 1})
    assert r.status_code == 404
    assert invitation_row(app, inv["id"]).status == RequestStatus.PENDING


def test_accepting_twice_conflicts(api: Api, cast: Cast, app: Any) -> None:
    inv = invite(api, cast.group, cast.admin, cast.outsider)
    assert accept(api, inv, cast.outsider, rules_version=1).status_code == 200
    r = accept(api, inv, cast.outsider, rules_version=1)
    assert r.status_code == 409
    assert error_code(r) == "conflict"
    assert group_row(app, cast.group["id"]).member_count == 6


def test_group_full(api: Api, cast: Cast, app: Any) -> None:
    group = create_group(api, cast.founder, member_cap=2)
    first = invite(api, group, cast.founder, cast.member)
    second = invite(api, group, cast.founder, cast.member2)
    assert accept(api, first, cast.member, rules_version=1).status_code == 200
    before = counts(app, *INVITE_TYPES)
    r = accept(api, second, cast.member2, rules_version=1)
    assert r.status_code == 409
    assert error_code(r) == "group_full"
    assert r.json()["error"]["details"] == {"member_cap": 2}
    assert counts(app, *INVITE_TYPES) == before
    assert group_row(app, group["id"]).member_count == 2
    assert membership_count(app, group["id"]) == 2
    assert invitation_row(app, second["id"]).status == RequestStatus.PENDING
    # A place frees up when someone leaves, and the invitation still works.
    assert api.post(f"/api/groups/{group['id']}/leave", as_=cast.member).status_code == 204
    assert accept(api, second, cast.member2, rules_version=1).status_code == 200
    assert group_row(app, group["id"]).member_count == 2


@pytest.mark.settings(max_groups_joined=2)
def test_too_many_groups_joined(api: Api, cast: Cast, app: Any) -> None:
    second = create_group(api, cast.admin, name="第二个群")  # the admin's 2nd membership
    inv = invite(api, second, cast.admin, cast.member)
    assert accept(api, inv, cast.member, rules_version=1).status_code == 200  # member: 2 of 2
    third = create_group(api, cast.member2, name="第三个群")
    before = counts(app, *INVITE_TYPES)
    inv = invite(api, third, cast.member2, cast.member)
    r = accept(api, inv, cast.member, rules_version=1)
    assert r.status_code == 409
    assert error_code(r) == "too_many_groups_joined"
    assert r.json()["error"]["details"] == {"max": 2}
    assert counts(app, EventType.MEMBER_JOINED) == {EventType.MEMBER_JOINED: before[
        EventType.MEMBER_JOINED]}
    assert group_row(app, third["id"]).member_count == 1
    # The same cap applies to approvals, and to founding (the founder joins their group).
    req = request_join(api, third, cast.member).json()
    r = api.post(f"/api/groups/{third['id']}/join-requests/{req['id']}/decision",
                 as_=cast.member2, json={"approve": True})
    assert r.status_code == 409
    assert error_code(r) == "too_many_groups_joined"
    r = api.post("/api/groups", as_=cast.admin, json={"name": "第四个群", "category": "work"})
    assert r.status_code == 409
    assert error_code(r) == "too_many_groups_joined"
    assert len(api.get("/api/groups", as_=cast.admin).json()) == 2


def test_invitation_after_removal_cannot_be_used_to_return(api: Api, cast: Cast,
                                                          app: Any) -> None:
    """A stale invitation must not let a removed member back in without an admin."""
    inv = invite(api, cast.group, cast.admin, cast.outsider)
    req = request_join(api, cast.group, cast.outsider).json()
    r = api.post(f"/api/groups/{cast.group['id']}/join-requests/{req['id']}/decision",
                 as_=cast.admin, json={"approve": True})
    assert r.status_code == 200, r.text
    assert api.get("/api/me/invitations", as_=cast.outsider).json() == []
    r = api.post(f"/api/groups/{cast.group['id']}/members/{cast.outsider.id}/remove",
                 as_=cast.founder, json={"reason": "刷屏"})
    assert r.status_code == 204
    r = accept(api, inv, cast.outsider, rules_version=1)
    assert r.status_code == 409
    assert error_code(r) == "conflict"
    assert membership_row(app, cast.group["id"], cast.outsider.id) is None


def test_my_invitations_with_groups_lists_pending_ones_with_their_group(
        api: Api, cast: Cast, app: Any) -> None:
    inv = invite(api, cast.group, cast.admin, cast.outsider)
    other = create_group(api, cast.founder, name="第二群")
    second = invite(api, other, cast.founder, cast.outsider)
    invite(api, other, cast.founder, cast.member2)  # someone else's
    uow = app.state.uows()
    try:
        viewer = identity_queries.get_account(uow, cast.outsider.id)
        rows = queries.my_invitations_with_groups(uow, viewer)
        assert [(i.id, g.id, g.name) for i, g in rows] == [
            (inv["id"], cast.group["id"], "项目协调群"), (second["id"], other["id"], "第二群")]
    finally:
        uow.close()
    accept(api, inv, cast.outsider, cast.group["rules_version"])
    uow = app.state.uows()
    try:
        viewer = identity_queries.get_account(uow, cast.outsider.id)
        assert [i.id for i, _ in queries.my_invitations_with_groups(uow, viewer)] == \
            [second["id"]]
    finally:
        uow.close()
