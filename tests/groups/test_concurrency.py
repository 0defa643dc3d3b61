"""Caps hold under concurrent approvals (GA-2), on the real production database."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from qunguan.groups.models import RequestStatus
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code, join_by_invitation
from tests.groups.conftest import (
    create_group,
    extra_people,
    group_row,
    join_request_rows,
    membership_count,
    request_join,
)


@pytest.fixture
def postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises every writer (BEGIN IMMEDIATE): no race to test")


def run_together(n: int, call: Any, args: list[Any]) -> list[Any]:
    """Call ``call`` on every arg from n threads released at once."""
    barrier = threading.Barrier(n)

    def one(arg: Any) -> Any:
        barrier.wait(timeout=30)
        return call(arg)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, args))


@pytest.mark.usefixtures("postgresql_only")
@pytest.mark.parametrize("two_deciders", [False, True])
def test_concurrent_approvals_never_exceed_the_cap(api: Api, cast: Cast, app: Any,
                                                   two_deciders: bool) -> None:
    """Six pending requests approved at once where two places are left."""
    cap = 4 if two_deciders else 3
    group = create_group(api, cast.founder, member_cap=cap)
    deciders = [cast.founder]
    if two_deciders:  # as two admins at two desks would
        join_by_invitation(api, group, cast.founder, cast.admin)
        r = api.post(f"/api/groups/{group['id']}/members/{cast.admin.id}/role",
                     as_=cast.founder, json={"role": "admin"})
        assert r.status_code == 204
        deciders.append(cast.admin)
    applicants = extra_people(api, 6)
    requests = [request_join(api, group, p).json()["id"] for p in applicants]
    before = len(audit_records(app, EventType.MEMBER_JOINED))

    def approve(request_id: int) -> Any:
        return api.post(f"/api/groups/{group['id']}/join-requests/{request_id}/decision",
                        as_=deciders[request_id % len(deciders)], json={"approve": True})

    responses = run_together(len(requests), approve, requests)
    assert sorted(r.status_code for r in responses) == [200] * 2 + [409] * 4, [
        r.text for r in responses]
    assert all(error_code(r) == "group_full" for r in responses if r.status_code == 409)

    assert group_row(app, group["id"]).member_count == cap
    assert membership_count(app, group["id"]) == cap
    statuses = [r.status for r in join_request_rows(app, group["id"])]
    assert statuses.count(RequestStatus.APPROVED) == 2
    assert statuses.count(RequestStatus.PENDING) == 4
    assert len(audit_records(app, EventType.MEMBER_JOINED)) == before + 2
    assert len(audit_records(app, EventType.JOIN_APPROVED)) == 2


@pytest.mark.usefixtures("postgresql_only")
def test_concurrent_decisions_on_one_request(api: Api, cast: Cast, app: Any) -> None:
    """Founder and admin both approve the same request: one wins, the other conflicts."""
    req = request_join(api, cast.group, cast.outsider).json()

    def approve(by: Any) -> Any:
        return api.post(f"/api/groups/{cast.group['id']}/join-requests/{req['id']}/decision",
                        as_=by, json={"approve": True})

    responses = run_together(4, approve, [cast.founder, cast.admin, cast.founder, cast.admin])
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409], [
        r.text for r in responses]
    assert {error_code(r) for r in responses if r.status_code == 409} == {"conflict"}
    assert group_row(app, cast.group["id"]).member_count == 6
    assert membership_count(app, cast.group["id"]) == 6
    assert len(audit_records(app, EventType.JOIN_APPROVED)) == 1


@pytest.mark.usefixtures("postgresql_only")
def test_concurrent_join_by_request_and_invitation(api: Api, cast: Cast, app: Any) -> None:
    """The same account let in by an approval and by accepting an invitation at once."""
    inv = api.post(f"/api/groups/{cast.group['id']}/invitations", as_=cast.admin,
                   json={"account_id": cast.outsider.id}).json()
    req = request_join(api, cast.group, cast.outsider).json()

    def act(which: str) -> Any:
        if which == "approve":
            return api.post(f"/api/groups/{cast.group['id']}/join-requests/{req['id']}/decision",
                            as_=cast.founder, json={"approve": True})
        return api.post(f"/api/me/invitations/{inv['id']}/accept", as_=cast.outsider,
                        json={"rules_version": 1})

    responses = run_together(2, act, ["approve", "accept"])
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    assert {error_code(r) for r in responses if r.status_code == 409} <= {"already_member",
                                                                          "conflict"}
    assert group_row(app, cast.group["id"]).member_count == 6
    assert membership_count(app, cast.group["id"]) == 6
