"""The admin toolset (GA-7), each action attributed and audited (GA-8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.cast import Person
from tests.conftest import Api, Cast, error_code, login
from tests.groups.conftest import (
    accept,
    counts,
    group_row,
    invite,
    last_audit,
    last_event,
    member_ids,
    membership_count,
    membership_row,
    request_join,
)

ADMIN_TYPES = (EventType.MEMBER_REMOVED, EventType.MEMBER_MUTED, EventType.MEMBER_UNMUTED,
               EventType.RULES_PINNED, EventType.ROLE_CHANGED)


def post(api: Api, cast: Cast, by: Person, path: str, json: Any = None) -> Any:
    return api.post(f"/api/groups/{cast.group['id']}/{path}", as_=by, json=json)


def say(api: Api, cast: Cast, who: Person, text: str = "收到") -> Any:
    return post(api, cast, who, "messages", {"text": text})


def promote(api: Api, cast: Cast, who: Person) -> None:
    r = post(api, cast, cast.founder, f"members/{who.id}/role", {"role": "admin"})
    assert r.status_code == 204, r.text


# --- remove ---------------------------------------------------------------------------------


def test_admin_removes_a_member(api: Api, cast: Cast, app: Any) -> None:
    assert say(api, cast, cast.member).status_code == 201
    history = api.get(f"/api/groups/{cast.group['id']}/messages", as_=cast.member)
    assert history.status_code == 200
    assert len(history.json()["items"]) == 1

    r = post(api, cast, cast.admin, f"members/{cast.member.id}/remove", {"reason": " 发广告 "})
    assert r.status_code == 204, r.text
    removed = last_audit(app, EventType.MEMBER_REMOVED, count=1)
    assert removed.acting_id == cast.admin.id
    assert removed.group_id == cast.group["id"]
    assert (removed.subject_type, removed.subject_id) == ("account", str(cast.member.id))
    assert removed.extra == {"reason": "发广告"}
    event = last_event(app, EventType.MEMBER_REMOVED, count=1)
    assert event.group_id == cast.group["id"]
    assert event.payload == {"account_id": cast.member.id, "account_ids": [cast.member.id]}

    assert group_row(app, cast.group["id"]).member_count == 4
    assert membership_count(app, cast.group["id"]) == 4
    assert cast.member.id not in member_ids(api, cast.group["id"], cast.founder)
    for path in ("", "/messages", "/members"):
        r = api.get(f"/api/groups/{cast.group['id']}{path}", as_=cast.member)
        assert r.status_code == 404, path
        assert error_code(r) == "not_found"
    r = say(api, cast, cast.member)
    assert r.status_code == 404
    assert error_code(r) == "not_found"
    assert api.get("/api/groups", as_=cast.member).json() == []


def test_removal_without_a_body_or_reason(api: Api, cast: Cast, app: Any) -> None:
    r = api.post(f"/api/groups/{cast.group['id']}/members/{cast.member.id}/remove",
                 as_=cast.founder)
    assert r.status_code == 204, r.text
    assert last_audit(app, EventType.MEMBER_REMOVED).extra == {"reason": None}
    r = post(api, cast, cast.founder, f"members/{cast.member2.id}/remove", {})
    assert r.status_code == 204, r.text
    assert last_audit(app, EventType.MEMBER_REMOVED, count=2).extra == {"reason": None}


@pytest.mark.parametrize(("actor", "target", "status", "code"), [
    ("admin", "founder", 403, "forbidden"),
    ("admin", "member2", 403, "forbidden"),   # member2 is made an admin first
    ("admin", "admin", 403, "forbidden"),     # not even oneself
    ("member", "newcomer", 403, "forbidden"),
    ("member", "member2", 403, "forbidden"),
    ("newcomer", "member", 403, "forbidden"),
    ("outsider", "member", 404, "not_found"),
    ("officer", "member", 404, "not_found"),
    ("founder", "outsider", 409, "not_member"),
])
def test_who_may_remove_whom(api: Api, cast: Cast, app: Any, actor: str, target: str,
                             status: int, code: str) -> None:
    if (actor, target) == ("admin", "member2"):
        promote(api, cast, cast.member2)
    before = counts(app, *ADMIN_TYPES)
    r = post(api, cast, cast[actor], f"members/{cast[target].id}/remove", {"reason": "x"})
    assert r.status_code == status, r.text
    assert error_code(r) == code
    assert counts(app, *ADMIN_TYPES) == before
    assert group_row(app, cast.group["id"]).member_count == 5


def test_founder_removes_an_admin(api: Api, cast: Cast, app: Any) -> None:
    r = post(api, cast, cast.founder, f"members/{cast.admin.id}/remove", {"reason": "失职"})
    assert r.status_code == 204
    assert membership_row(app, cast.group["id"], cast.admin.id) is None
    r = api.get(f"/api/groups/{cast.group['id']}/join-requests", as_=cast.admin)
    assert r.status_code == 404


def test_removed_member_may_ask_again_but_needs_approval(api: Api, cast: Cast,
                                                        app: Any) -> None:
    post(api, cast, cast.admin, f"members/{cast.member.id}/remove", {"reason": "x"})
    r = request_join(api, cast.group, cast.member)
    assert r.status_code == 201
    assert r.json()["status"] == "pending"
    assert membership_row(app, cast.group["id"], cast.member.id) is None


# --- mute -----------------------------------------------------------------------------------


def test_mute_then_expiry(api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    until = clock.now() + timedelta(seconds=600)
    r = post(api, cast, cast.admin, f"members/{cast.member.id}/mute",
             {"seconds": 600, "reason": "刷屏"})
    assert r.status_code == 204, r.text
    muted = last_audit(app, EventType.MEMBER_MUTED, count=1)
    assert muted.acting_id == cast.admin.id
    assert muted.group_id == cast.group["id"]
    assert muted.subject_id == str(cast.member.id)
    assert muted.extra == {"until": until.isoformat(), "reason": "刷屏"}
    event = last_event(app, EventType.MEMBER_MUTED, count=1)
    assert event.group_id == cast.group["id"]
    assert event.payload == {"account_id": cast.member.id, "until": until.isoformat(),
                             "account_ids": [cast.member.id]}
    row = membership_row(app, cast.group["id"], cast.member.id)
    assert row is not None
    assert row.muted_until == until

    r = say(api, cast, cast.member)
    assert r.status_code == 403
    assert error_code(r) == "muted"
    assert r.json()["error"]["details"] == {"until": until.isoformat()}
    listed = {m["account_id"]: m["muted_until"]
              for m in api.get(f"/api/groups/{cast.group['id']}/members",
                               as_=cast.member2).json()}
    assert listed[cast.member.id] is not None
    assert listed[cast.member2.id] is None
    assert say(api, cast, cast.member2).status_code == 201  # only the muted one is silenced

    clock.advance(seconds=599)
    assert error_code(say(api, cast, cast.member)) == "muted"
    clock.advance(seconds=2)
    r = say(api, cast, cast.member)
    assert r.status_code == 201, r.text


def test_unmute(api: Api, cast: Cast, app: Any) -> None:
    post(api, cast, cast.founder, f"members/{cast.member.id}/mute", {"seconds": 3600})
    assert last_audit(app, EventType.MEMBER_MUTED).extra["reason"] is None
    assert say(api, cast, cast.member).status_code == 403
    r = post(api, cast, cast.admin, f"members/{cast.member.id}/unmute")
    assert r.status_code == 204, r.text
    assert say(api, cast, cast.member).status_code == 201
    row = membership_row(app, cast.group["id"], cast.member.id)
    assert row is not None
    assert row.muted_until is None
    unmuted = last_audit(app, EventType.MEMBER_UNMUTED, count=1)
    assert unmuted.acting_id == cast.admin.id
    assert unmuted.group_id == cast.group["id"]
    assert unmuted.subject_id == str(cast.member.id)
    event = last_event(app, EventType.MEMBER_UNMUTED, count=1)
    assert event.group_id == cast.group["id"]
    assert event.payload == {"account_id": cast.member.id, "account_ids": [cast.member.id]}


@pytest.mark.parametrize("seconds", [0, -5, 30 * 24 * 3600 + 1])
def test_mute_duration_bounds(api: Api, cast: Cast, app: Any, seconds: int) -> None:
    r = post(api, cast, cast.admin, f"members/{cast.member.id}/mute", {"seconds": seconds})
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    assert counts(app, EventType.MEMBER_MUTED) == {EventType.MEMBER_MUTED: (0, 0)}


def test_longest_mute(api: Api, cast: Cast, clock: FixedClock) -> None:
    r = post(api, cast, cast.admin, f"members/{cast.member.id}/mute",
             {"seconds": 30 * 24 * 3600})
    assert r.status_code == 204
    clock.advance(days=29, hours=23)
    login(api, cast.member)  # tokens last a week
    assert error_code(say(api, cast, cast.member)) == "muted"
    clock.advance(hours=1)
    assert say(api, cast, cast.member).status_code == 201


@pytest.mark.parametrize(("actor", "target", "code"), [
    ("admin", "founder", "forbidden"), ("member", "member2", "forbidden"),
    ("outsider", "member", "not_found"), ("admin", "outsider", "not_member")])
def test_who_may_mute_and_unmute_whom(api: Api, cast: Cast, app: Any, actor: str, target: str,
                                      code: str) -> None:
    before = counts(app, *ADMIN_TYPES)
    for action, body in (("mute", {"seconds": 60}), ("unmute", None)):
        r = post(api, cast, cast[actor], f"members/{cast[target].id}/{action}", body)
        assert error_code(r) == code, action
    assert counts(app, *ADMIN_TYPES) == before


# --- rules ----------------------------------------------------------------------------------


def test_pinning_rules_bumps_the_version_new_joiners_must_ack(api: Api, cast: Cast,
                                                              app: Any) -> None:
    inv = invite(api, cast.group, cast.admin, cast.outsider)
    r = api.put(f"/api/groups/{cast.group['id']}/rules", as_=cast.admin,
                json={"text": " 禁止广告；实名发言 "})
    assert r.status_code == 200, r.text
    assert (r.json()["rules_text"], r.json()["rules_version"]) == ("禁止广告；实名发言", 2)
    pinned = last_audit(app, EventType.RULES_PINNED, count=1)
    assert pinned.acting_id == cast.admin.id
    assert pinned.group_id == cast.group["id"]
    assert (pinned.subject_type, pinned.subject_id) == ("group", str(cast.group["id"]))
    # The audit keeps each version's text: what a member acknowledged stays provable (GA-9).
    assert pinned.extra == {"rules_version": 2, "text": "禁止广告；实名发言"}
    event = last_event(app, EventType.RULES_PINNED, count=1)
    assert event.group_id == cast.group["id"]
    assert event.payload == {"rules_version": 2, "account_ids": []}

    info = api.get(f"/api/groups/by-code/{cast.group['code']}", as_=cast.member2).json()
    assert info["rules_version"] == 2
    r = accept(api, inv, cast.outsider, rules_version=1)
    assert error_code(r) == "rules_not_acknowledged"
    assert r.json()["error"]["details"] == {"rules_version": 2}
    assert accept(api, inv, cast.outsider, rules_version=2).status_code == 200
    row = membership_row(app, cast.group["id"], cast.outsider.id)
    assert row is not None
    assert row.rules_version_ack == 2


def test_pinning_rules_then_requests_need_the_new_version(api: Api, cast: Cast) -> None:
    r = api.put(f"/api/groups/{cast.group['id']}/rules", as_=cast.founder, json={"text": "新规"})
    assert r.status_code == 200
    group = r.json()
    r = request_join(api, group, cast.outsider, rules_version=1)
    assert error_code(r) == "rules_not_acknowledged"
    assert r.json()["error"]["details"] == {"rules_version": 2}
    assert request_join(api, group, cast.outsider, rules_version=2).status_code == 201


@pytest.mark.parametrize(("who", "text", "status", "code"), [
    ("member", "我的规则", 403, "forbidden"), ("outsider", "我的规则", 404, "not_found"),
    ("admin", "   ", 422, "invalid_request"), ("admin", "规" * 5001, 422, "invalid_request")])
def test_pinning_rules_refused(api: Api, cast: Cast, app: Any, who: str, text: str,
                               status: int, code: str) -> None:
    r = api.put(f"/api/groups/{cast.group['id']}/rules", as_=cast[who], json={"text": text})
    assert r.status_code == status
    assert error_code(r) == code
    assert counts(app, EventType.RULES_PINNED) == {EventType.RULES_PINNED: (0, 0)}
    assert group_row(app, cast.group["id"]).rules_version == 1


# --- roles ----------------------------------------------------------------------------------


def test_founder_promotes_and_demotes(api: Api, cast: Cast, app: Any) -> None:
    r = post(api, cast, cast.founder, f"members/{cast.member.id}/role", {"role": "admin"})
    assert r.status_code == 204, r.text
    changed = last_audit(app, EventType.ROLE_CHANGED, count=2)  # the cast fixture's first
    assert changed.acting_id == cast.founder.id
    assert changed.group_id == cast.group["id"]
    assert changed.subject_id == str(cast.member.id)
    assert changed.extra == {"old": "member", "new": "admin"}
    event = last_event(app, EventType.ROLE_CHANGED, count=2)
    assert event.group_id == cast.group["id"]
    assert event.payload == {"account_id": cast.member.id, "role": "admin",
                             "account_ids": [cast.member.id]}
    badges = {m["account_id"]: m["badge"] for m in api.get(
        f"/api/groups/{cast.group['id']}/members", as_=cast.member2).json()}
    assert badges[cast.member.id] == "管理员"
    # The new admin has the toolset.
    assert post(api, cast, cast.member, f"members/{cast.member2.id}/mute",
                {"seconds": 60}).status_code == 204

    r = post(api, cast, cast.founder, f"members/{cast.admin.id}/role", {"role": "member"})
    assert r.status_code == 204
    assert last_audit(app, EventType.ROLE_CHANGED, count=3).extra == {"old": "admin",
                                                                      "new": "member"}
    r = post(api, cast, cast.admin, "invitations", {"account_id": cast.outsider.id})
    assert r.status_code == 403
    assert error_code(r) == "forbidden"


@pytest.mark.parametrize(("actor", "target", "role", "status", "code"), [
    ("admin", "member", "admin", 403, "forbidden"),
    ("admin", "member", "member", 403, "forbidden"),
    ("member", "member2", "admin", 403, "forbidden"),
    ("founder", "member", "founder", 422, "invalid_request"),
    ("founder", "member", "owner", 422, "invalid_request"),
    ("founder", "founder", "member", 403, "forbidden"),
    ("founder", "outsider", "admin", 409, "not_member"),
    ("officer", "member", "admin", 404, "not_found"),
])
def test_set_role_refused(api: Api, cast: Cast, app: Any, actor: str, target: str, role: str,
                          status: int, code: str) -> None:
    r = post(api, cast, cast[actor], f"members/{cast[target].id}/role", {"role": role})
    assert r.status_code == status, r.text
    assert error_code(r) == code
    assert last_audit(app, EventType.ROLE_CHANGED, count=1)  # only the cast fixture's
    row = membership_row(app, cast.group["id"], cast.member.id)
    assert row is not None
    assert row.role == "member"


def test_transfer_founder(api: Api, cast: Cast, app: Any) -> None:
    r = post(api, cast, cast.founder, "transfer", {"account_id": cast.member.id})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == cast.group["id"]
    assert group_row(app, cast.group["id"]).founder_id == cast.member.id
    roles = {m["account_id"]: (m["role"], m["badge"]) for m in api.get(
        f"/api/groups/{cast.group['id']}/members", as_=cast.member2).json()}
    assert roles[cast.member.id] == ("founder", "群主")
    assert roles[cast.founder.id] == ("admin", "管理员")
    assert [r for r, _ in roles.values()].count("founder") == 1

    transferred = last_audit(app, EventType.FOUNDER_TRANSFERRED, count=1)
    assert transferred.acting_id == cast.founder.id
    assert transferred.group_id == cast.group["id"]
    assert transferred.subject_id == str(cast.member.id)
    assert transferred.extra == {"previous": cast.founder.id}
    event = last_event(app, EventType.FOUNDER_TRANSFERRED, count=1)
    assert event.group_id == cast.group["id"]
    assert event.payload == {"founder_id": cast.member.id,
                             "previous_founder_id": cast.founder.id,
                             "account_ids": [cast.member.id]}

    # The old founder is an admin now: no founder powers, but free to leave.
    r = post(api, cast, cast.founder, f"members/{cast.member2.id}/role", {"role": "admin"})
    assert error_code(r) == "forbidden"
    r = post(api, cast, cast.member, "leave")
    assert r.status_code == 409
    assert error_code(r) == "founder_cannot_leave"
    assert post(api, cast, cast.member, f"members/{cast.founder.id}/role",
                {"role": "member"}).status_code == 204
    assert post(api, cast, cast.founder, "leave").status_code == 204


def test_transfer_to_an_unverified_member_is_refused(api: Api, cast: Cast, app: Any) -> None:
    r = post(api, cast, cast.founder, "transfer", {"account_id": cast.newcomer.id})
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"
    assert group_row(app, cast.group["id"]).founder_id == cast.founder.id
    row = membership_row(app, cast.group["id"], cast.newcomer.id)
    assert row is not None
    assert row.role == "member"
    assert counts(app, EventType.FOUNDER_TRANSFERRED) == {EventType.FOUNDER_TRANSFERRED: (0, 0)}


@pytest.mark.parametrize(("actor", "target", "status", "code"), [
    ("admin", "member", 403, "forbidden"), ("member", "member2", 403, "forbidden"),
    ("founder", "outsider", 409, "not_member"), ("founder", "founder", 403, "forbidden"),
    ("officer", "member", 404, "not_found")])
def test_transfer_refused(api: Api, cast: Cast, app: Any, actor: str, target: str, status: int,
                          code: str) -> None:
    r = post(api, cast, cast[actor], "transfer", {"account_id": cast[target].id})
    assert r.status_code == status
    assert error_code(r) == code
    assert group_row(app, cast.group["id"]).founder_id == cast.founder.id


# --- leave ----------------------------------------------------------------------------------


def test_member_leaves(api: Api, cast: Cast, app: Any) -> None:
    r = post(api, cast, cast.member2, "leave")
    assert r.status_code == 204, r.text
    assert group_row(app, cast.group["id"]).member_count == 4
    assert membership_count(app, cast.group["id"]) == 4
    assert membership_row(app, cast.group["id"], cast.member2.id) is None
    left = last_audit(app, EventType.MEMBER_LEFT, count=1)
    assert left.acting_id == cast.member2.id
    assert left.group_id == cast.group["id"]
    assert left.subject_id == str(cast.member2.id)
    event = last_event(app, EventType.MEMBER_LEFT, count=1)
    assert event.group_id == cast.group["id"]
    assert event.payload == {"account_id": cast.member2.id, "account_ids": [cast.member2.id]}
    r = post(api, cast, cast.member2, "leave")
    assert r.status_code == 404
    assert error_code(r) == "not_found"
    assert group_row(app, cast.group["id"]).member_count == 4


def test_admin_leaves(api: Api, cast: Cast, app: Any) -> None:
    assert post(api, cast, cast.admin, "leave").status_code == 204
    assert group_row(app, cast.group["id"]).member_count == 4


def test_founder_cannot_leave(api: Api, cast: Cast, app: Any) -> None:
    r = post(api, cast, cast.founder, "leave")
    assert r.status_code == 409
    assert error_code(r) == "founder_cannot_leave"
    assert group_row(app, cast.group["id"]).member_count == 5
    assert counts(app, EventType.MEMBER_LEFT) == {EventType.MEMBER_LEFT: (0, 0)}


def test_outsider_cannot_leave(api: Api, cast: Cast) -> None:
    r = post(api, cast, cast.outsider, "leave")
    assert r.status_code == 404
    assert error_code(r) == "not_found"
