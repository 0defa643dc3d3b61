"""Founding a group: who may, the code, the caps (GA-2, GA-3, GA-4, GA-5)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from qunguan.groups import actions
from qunguan.groups.models import Role
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, error_code
from tests.groups.conftest import (
    counts,
    create_group,
    group_row,
    last_audit,
    last_event,
    membership_count,
    membership_row,
)

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{8}$")  # Crockford base32: no I, L, O, U


def test_verified_founder_creates_a_group(api: Api, cast: Cast, app: Any) -> None:
    r = api.post("/api/groups", as_=cast.admin,
                 json={"name": "  党支部学习群 ", "category": "party_branch", "tier": 2,
                       "join_policy": "invite_only", "rules_text": " 遵守纪律 "})
    assert r.status_code == 201, r.text
    group = r.json()
    assert CODE.match(group["code"]), group["code"]
    assert group["code"] != cast.group["code"]
    assert group["name"] == "党支部学习群"
    assert (group["category"], group["tier"], group["join_policy"]) == (
        "party_branch", 2, "invite_only")
    assert group["member_count"] == 1
    assert group["member_cap"] == 500
    assert (group["rules_text"], group["rules_version"]) == ("遵守纪律", 1)
    assert group["posting_suspended"] is False

    row = group_row(app, group["id"])
    assert row.founder_id == cast.admin.id
    founder = membership_row(app, group["id"], cast.admin.id)
    assert founder is not None
    assert founder.role == Role.FOUNDER
    assert founder.rules_version_ack == 1
    assert membership_count(app, group["id"]) == 1

    mine = {g["group"]["id"]: g["role"] for g in api.get("/api/groups", as_=cast.admin).json()}
    assert mine == {cast.group["id"]: "admin", group["id"]: "founder"}

    created = last_audit(app, EventType.GROUP_CREATED, count=2)  # the cast's group, then this
    assert created.acting_id == cast.admin.id
    assert created.group_id == group["id"]
    assert (created.subject_type, created.subject_id) == ("group", str(group["id"]))
    assert created.extra == {"code": group["code"], "name": "党支部学习群",
                             "category": "party_branch", "tier": 2, "member_cap": 500,
                             "rules_text": "遵守纪律"}
    event = last_event(app, EventType.GROUP_CREATED, count=2)
    assert event.group_id == group["id"]
    assert event.payload == {"code": group["code"], "category": "party_branch",
                             "account_ids": [cast.admin.id]}

    joined = last_audit(app, EventType.MEMBER_JOINED)
    assert joined.acting_id == cast.admin.id
    assert joined.group_id == group["id"]
    assert (joined.subject_type, joined.subject_id) == ("account", str(cast.admin.id))
    assert joined.extra == {"via": "founder", "rules_version": 1}
    event = last_event(app, EventType.MEMBER_JOINED)
    assert event.group_id == group["id"]
    assert event.payload == {"account_id": cast.admin.id, "role": "founder",
                             "account_ids": [cast.admin.id]}


def test_codes_are_unique_and_found_case_insensitively(api: Api, cast: Cast) -> None:
    groups = [create_group(api, person, name=f"群{i}")
              for i, person in enumerate([cast.founder, cast.admin, cast.member, cast.member2,
                                          cast.outsider, cast.officer])]
    codes = {g["code"] for g in groups} | {cast.group["code"]}
    assert len(codes) == 7
    assert all(CODE.match(c) for c in codes)
    for g in groups:
        r = api.get(f"/api/groups/by-code/{g['code'].lower()}", as_=cast.newcomer)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == g["id"]


def test_a_code_collision_draws_again(api: Api, cast: Cast, app: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter([cast.group["code"], cast.group["code"], "ABCDEFGH"])
    monkeypatch.setattr(actions, "new_code", lambda: next(drawn))
    group = create_group(api, cast.admin)
    assert group["code"] == "ABCDEFGH"
    assert group["member_count"] == 1
    assert membership_count(app, group["id"]) == 1
    assert api.get(f"/api/groups/{cast.group['id']}", as_=cast.founder).json()["code"] == \
        cast.group["code"]


def test_unverified_account_cannot_create(api: Api, cast: Cast, app: Any) -> None:
    before = counts(app, EventType.GROUP_CREATED, EventType.MEMBER_JOINED)
    r = api.post("/api/groups", as_=cast.newcomer, json={"name": "新人群", "category": "social"})
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"
    assert counts(app, EventType.GROUP_CREATED, EventType.MEMBER_JOINED) == before
    assert [g["group"]["id"] for g in api.get("/api/groups", as_=cast.newcomer).json()] == [
        cast.group["id"]]


def test_anonymous_cannot_create(api: Api, cast: Cast) -> None:
    r = api.post("/api/groups", json={"name": "匿名群", "category": "social"})
    assert r.status_code == 401
    assert error_code(r) == "not_authenticated"


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "群", "category": "gaming"}, "category"),
    ({"name": "群"}, "category"),
    ({"name": "群", "category": "work", "tier": 0}, "tier"),
    ({"name": "群", "category": "work", "tier": 4}, "tier"),
    ({"name": "群", "category": "work", "tier": "high"}, "tier"),
    ({"name": "群", "category": "work", "join_policy": "open"}, "join_policy"),
    ({"name": "群", "category": "work", "member_cap": 1}, "member_cap"),
    ({"category": "work"}, "name"),
])
def test_bad_fields_are_invalid_requests(api: Api, cast: Cast, app: Any, body: dict[str, Any],
                                         field: str) -> None:
    before = counts(app, EventType.GROUP_CREATED)
    r = api.post("/api/groups", as_=cast.founder, json=body)
    assert r.status_code == 422, r.text
    assert error_code(r) == "invalid_request"
    assert [f["loc"][-1] for f in r.json()["error"]["details"]["fields"]] == [field]
    assert counts(app, EventType.GROUP_CREATED) == before


@pytest.mark.parametrize("name", ["   ", "群" * 65])
def test_name_needs_1_to_64_characters(api: Api, cast: Cast, name: str) -> None:
    r = api.post("/api/groups", as_=cast.founder, json={"name": name, "category": "work"})
    assert r.status_code == 422, r.text
    assert error_code(r) == "invalid_request"
    assert r.json()["error"]["details"]["fields"] == ["name"]


def test_every_tier_and_category_is_accepted(api: Api, cast: Cast) -> None:
    for tier, category in zip([1, 2, 3, 1, 2], ["party_branch", "village_committee",
                                                 "government_office", "work", "social"],
                              strict=True):
        group = create_group(api, cast.member, name=f"{category}群", category=category,
                             tier=tier)
        assert (group["category"], group["tier"]) == (category, tier)


@pytest.mark.settings(max_groups_created=2)
def test_too_many_groups_created(api: Api, cast: Cast, app: Any) -> None:
    create_group(api, cast.founder, name="第二个群")  # the cast's group is the first
    before = counts(app, EventType.GROUP_CREATED, EventType.MEMBER_JOINED)
    r = api.post("/api/groups", as_=cast.founder, json={"name": "第三个群", "category": "work"})
    assert r.status_code == 409
    assert error_code(r) == "too_many_groups_created"
    assert r.json()["error"]["details"] == {"max": 2}
    assert counts(app, EventType.GROUP_CREATED, EventType.MEMBER_JOINED) == before
    assert len(api.get("/api/groups", as_=cast.founder).json()) == 2
    # The cap is per founder: others still may.
    create_group(api, cast.admin, name="管家的群")


@pytest.mark.settings(max_group_members=50)
@pytest.mark.parametrize(("requested", "cap"), [(10, 10), (50, 50), (80, 50), (None, 50)])
def test_member_cap_is_the_smaller_of_requested_and_setting(api: Api, cast: Cast, app: Any,
                                                            requested: int | None,
                                                            cap: int) -> None:
    group = create_group(api, cast.founder, member_cap=requested)
    assert group["member_cap"] == cap
    assert group_row(app, group["id"]).member_cap == cap
    assert last_audit(app, EventType.GROUP_CREATED).extra["member_cap"] == cap


@pytest.mark.parametrize("body", [{"name": "群\x00名"}, {"name": "群名", "rules_text": "规\x00则"},
                                  {"name": "群\ud800名"}])
def test_unstorable_text_is_refused_on_both_backends(api: Api, cast: Cast,
                                                     body: dict[str, str]) -> None:
    before = len(api.get("/api/groups", as_=cast.founder).json())
    r = api.post("/api/groups", as_=cast.founder, content=json.dumps({"category": "work", **body}),
                 headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    assert len(api.get("/api/groups", as_=cast.founder).json()) == before
