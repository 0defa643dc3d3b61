"""Joining by request: the rules acknowledgement (GA-9) and the admin's decision (GA-6, GA-7)."""

from __future__ import annotations

from typing import Any

import pytest

from qunguan.groups.models import RequestStatus, Role
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, error_code
from tests.groups.conftest import (
    counts,
    create_group,
    extra_people,
    group_row,
    join_request_rows,
    last_audit,
    last_event,
    membership_count,
    membership_row,
    request_join,
)

JOIN_TYPES = (EventType.JOIN_REQUESTED, EventType.JOIN_APPROVED, EventType.JOIN_REJECTED,
              EventType.MEMBER_JOINED)


def decide(api: Api, group: dict[str, Any], request_id: int, by: Any, approve: bool) -> Any:
    return api.post(f"/api/groups/{group['id']}/join-requests/{request_id}/decision", as_=by,
                    json={"approve": approve})


def test_request_with_the_rules_version_is_pending(api: Api, cast: Cast, app: Any) -> None:
    r = request_join(api, cast.group, cast.outsider)
    assert r.status_code == 201, r.text
    req = r.json()
    assert (req["group_id"], req["account_id"], req["status"]) == (
        cast.group["id"], cast.outsider.id, "pending")
    assert req["note"] == "想加入"
    assert req["decided_at"] is None
    [row] = join_request_rows(app, cast.group["id"])
    assert row.rules_version_ack == 1

    audit = last_audit(app, EventType.JOIN_REQUESTED, count=1)
    assert audit.acting_id == cast.outsider.id
    assert audit.group_id == cast.group["id"]
    assert (audit.subject_type, audit.subject_id) == ("join_request", str(req["id"]))
    event = last_event(app, EventType.JOIN_REQUESTED, count=1)
    # Delivered to the founder and admin only: members are not told who asked.
    assert event.group_id is None
    assert event.payload == {"request_id": req["id"], "account_id": cast.outsider.id,
                             "target_group_id": cast.group["id"],
                             "account_ids": sorted([cast.founder.id, cast.admin.id])}
    # Asking is not joining.
    assert api.get(f"/api/groups/{cast.group['id']}", as_=cast.outsider).status_code == 404
    assert membership_row(app, cast.group["id"], cast.outsider.id) is None


@pytest.mark.parametrize("body", [{}, {"rules_version": None}, {"rules_version": 0},
                                  {"rules_version": 2}, None])
def test_request_must_acknowledge_the_current_rules(api: Api, cast: Cast, app: Any,
                                                    body: dict[str, Any] | None) -> None:
    before = counts(app, *JOIN_TYPES)
    kwargs = {} if body is None else {"json": body}
    r = api.post(f"/api/groups/by-code/{cast.group['code']}/join-requests", as_=cast.outsider,
                 **kwargs)
    assert r.status_code == 422, r.text
    assert error_code(r) == "rules_not_acknowledged"
    assert r.json()["error"]["details"] == {"rules_version": 1}
    assert join_request_rows(app, cast.group["id"]) == []
    assert counts(app, *JOIN_TYPES) == before


def test_duplicate_pending_request_conflicts(api: Api, cast: Cast, app: Any) -> None:
    first = request_join(api, cast.group, cast.outsider).json()
    r = request_join(api, cast.group, cast.outsider)
    assert r.status_code == 409
    assert error_code(r) == "conflict"
    assert r.json()["error"]["details"] == {"request_id": first["id"]}
    assert len(join_request_rows(app, cast.group["id"])) == 1
    assert len(last_audit(app, EventType.JOIN_REQUESTED, count=1).extra) == 0


@pytest.mark.parametrize("who", ["member", "founder", "newcomer"])
def test_members_cannot_request(api: Api, cast: Cast, app: Any, who: str) -> None:
    r = request_join(api, cast.group, cast[who])
    assert r.status_code == 409
    assert error_code(r) == "already_member"
    assert join_request_rows(app, cast.group["id"]) == []


def test_invite_only_group_refuses_requests(api: Api, cast: Cast, app: Any) -> None:
    group = create_group(api, cast.founder, join_policy="invite_only")
    r = request_join(api, group, cast.outsider)
    assert r.status_code == 403
    assert error_code(r) == "forbidden"
    assert join_request_rows(app, group["id"]) == []


def test_unknown_code(api: Api, cast: Cast) -> None:
    r = request_join(api, {**cast.group, "code": "ZZZZ0000"}, cast.outsider)
    assert r.status_code == 404
    assert error_code(r) == "not_found"


def test_admin_lists_and_approves(api: Api, cast: Cast, app: Any) -> None:
    req = request_join(api, cast.group, cast.outsider).json()
    r = api.get(f"/api/groups/{cast.group['id']}/join-requests", as_=cast.admin)
    assert r.status_code == 200, r.text
    assert [(x["id"], x["account_id"], x["status"]) for x in r.json()] == [
        (req["id"], cast.outsider.id, "pending")]

    r = decide(api, cast.group, req["id"], cast.admin, approve=True)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert r.json()["decided_at"] is not None

    member = membership_row(app, cast.group["id"], cast.outsider.id)
    assert member is not None
    assert member.role == Role.MEMBER
    assert member.rules_version_ack == 1
    assert member.rules_ack_at is not None
    assert group_row(app, cast.group["id"]).member_count == 6
    assert membership_count(app, cast.group["id"]) == 6
    [row] = join_request_rows(app, cast.group["id"])
    assert (row.status, row.decided_by) == (RequestStatus.APPROVED, cast.admin.id)

    approved = last_audit(app, EventType.JOIN_APPROVED, count=1)
    assert approved.acting_id == cast.admin.id
    assert approved.group_id == cast.group["id"]
    assert (approved.subject_type, approved.subject_id) == ("account", str(cast.outsider.id))
    assert approved.extra == {"request_id": req["id"]}
    event = last_event(app, EventType.JOIN_APPROVED, count=1)
    assert event.group_id == cast.group["id"]
    assert event.payload == {"request_id": req["id"], "account_id": cast.outsider.id,
                             "account_ids": [cast.outsider.id]}
    joined = last_audit(app, EventType.MEMBER_JOINED)
    assert joined.acting_id == cast.admin.id
    assert joined.subject_id == str(cast.outsider.id)
    assert joined.extra == {"via": "request", "rules_version": 1, "request_id": req["id"]}
    event = last_event(app, EventType.MEMBER_JOINED)
    assert event.group_id == cast.group["id"]
    assert event.payload == {"account_id": cast.outsider.id, "role": "member",
                             "account_ids": [cast.outsider.id]}

    # Now a member: sees the group, and nothing is pending.
    assert api.get(f"/api/groups/{cast.group['id']}", as_=cast.outsider).status_code == 200
    assert api.get(f"/api/groups/{cast.group['id']}/join-requests",
                   as_=cast.founder).json() == []


def test_reject(api: Api, cast: Cast, app: Any) -> None:
    req = request_join(api, cast.group, cast.outsider).json()
    r = decide(api, cast.group, req["id"], cast.founder, approve=False)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    assert membership_row(app, cast.group["id"], cast.outsider.id) is None
    assert group_row(app, cast.group["id"]).member_count == 5

    rejected = last_audit(app, EventType.JOIN_REJECTED, count=1)
    assert rejected.acting_id == cast.founder.id
    assert rejected.group_id == cast.group["id"]
    assert rejected.subject_id == str(cast.outsider.id)
    assert rejected.extra == {"request_id": req["id"]}
    event = last_event(app, EventType.JOIN_REJECTED, count=1)
    assert event.group_id is None  # not broadcast to the group
    assert event.payload == {"request_id": req["id"], "account_ids": [cast.outsider.id]}
    assert counts(app, EventType.JOIN_APPROVED) == {EventType.JOIN_APPROVED: (0, 0)}

    # A rejected applicant may ask again.
    assert request_join(api, cast.group, cast.outsider).status_code == 201


@pytest.mark.parametrize("who", ["member", "newcomer"])
def test_plain_members_cannot_list_or_decide(api: Api, cast: Cast, app: Any, who: str) -> None:
    req = request_join(api, cast.group, cast.outsider).json()
    r = api.get(f"/api/groups/{cast.group['id']}/join-requests", as_=cast[who])
    assert r.status_code == 403
    assert error_code(r) == "forbidden"
    for approve in (True, False):
        r = decide(api, cast.group, req["id"], cast[who], approve=approve)
        assert r.status_code == 403
        assert error_code(r) == "forbidden"
    assert join_request_rows(app, cast.group["id"])[0].status == RequestStatus.PENDING
    assert counts(app, EventType.JOIN_APPROVED, EventType.JOIN_REJECTED) == {
        EventType.JOIN_APPROVED: (0, 0), EventType.JOIN_REJECTED: (0, 0)}


def test_outsiders_and_officers_cannot_decide(api: Api, cast: Cast, app: Any) -> None:
    req = request_join(api, cast.group, cast.outsider).json()
    for who in ("outsider", "officer"):
        r = decide(api, cast.group, req["id"], cast[who], approve=True)
        assert r.status_code == 404
        assert error_code(r) == "not_found"
    assert membership_row(app, cast.group["id"], cast.outsider.id) is None


@pytest.mark.parametrize(("first", "second"), [(True, False), (False, True), (True, True)])
def test_deciding_twice_conflicts(api: Api, cast: Cast, app: Any, first: bool,
                                  second: bool) -> None:
    req = request_join(api, cast.group, cast.outsider).json()
    assert decide(api, cast.group, req["id"], cast.admin, approve=first).status_code == 200
    before = counts(app, *JOIN_TYPES)
    r = decide(api, cast.group, req["id"], cast.founder, approve=second)
    assert r.status_code == 409
    assert error_code(r) == "conflict"
    assert r.json()["error"]["details"] == {"status": "approved" if first else "rejected"}
    assert counts(app, *JOIN_TYPES) == before
    assert group_row(app, cast.group["id"]).member_count == (6 if first else 5)


def test_request_of_another_group_is_not_found(api: Api, cast: Cast, app: Any) -> None:
    other = create_group(api, cast.admin)
    req = request_join(api, other, cast.outsider).json()
    r = decide(api, cast.group, req["id"], cast.founder, approve=True)
    assert r.status_code == 404
    assert error_code(r) == "not_found"
    r = decide(api, cast.group, 999999, cast.founder, approve=True)
    assert r.status_code == 404
    assert join_request_rows(app, other["id"])[0].status == RequestStatus.PENDING


def test_approval_beyond_the_cap_is_group_full(api: Api, cast: Cast, app: Any) -> None:
    group = create_group(api, cast.founder, member_cap=2)
    first = request_join(api, group, cast.outsider).json()
    second = request_join(api, group, cast.member).json()
    assert decide(api, group, first["id"], cast.founder, approve=True).status_code == 200
    before = counts(app, *JOIN_TYPES)
    r = decide(api, group, second["id"], cast.founder, approve=True)
    assert r.status_code == 409
    assert error_code(r) == "group_full"
    assert r.json()["error"]["details"] == {"member_cap": 2}
    assert counts(app, *JOIN_TYPES) == before
    assert group_row(app, group["id"]).member_count == 2
    assert membership_count(app, group["id"]) == 2
    # The refused request stays pending: it can still be rejected.
    assert join_request_rows(app, group["id"])[1].status == RequestStatus.PENDING
    assert decide(api, group, second["id"], cast.founder, approve=False).status_code == 200


def test_unverified_accounts_may_ask(api: Api, cast: Cast, app: Any) -> None:
    [stranger] = extra_people(api, 1)
    req = request_join(api, cast.group, stranger).json()
    assert decide(api, cast.group, req["id"], cast.admin, approve=True).status_code == 200
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=stranger, json={"text": "你好"})
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"


def test_joining_otherwise_settles_a_pending_request(api: Api, cast: Cast, app: Any) -> None:
    req = request_join(api, cast.group, cast.outsider).json()
    inv = api.post(f"/api/groups/{cast.group['id']}/invitations", as_=cast.admin,
                   json={"account_id": cast.outsider.id}).json()
    r = api.post(f"/api/me/invitations/{inv['id']}/accept", as_=cast.outsider,
                 json={"rules_version": 1})
    assert r.status_code == 200, r.text
    assert api.get(f"/api/groups/{cast.group['id']}/join-requests", as_=cast.admin).json() == []
    # After a removal the stale request cannot be approved behind the remover's back.
    r = api.post(f"/api/groups/{cast.group['id']}/members/{cast.outsider.id}/remove",
                 as_=cast.founder, json={"reason": "违规"})
    assert r.status_code == 204, r.text
    r = decide(api, cast.group, req["id"], cast.admin, approve=True)
    assert r.status_code == 409
    assert error_code(r) == "conflict"
    assert membership_row(app, cast.group["id"], cast.outsider.id) is None
