"""What a group shows, and to whom: the info page, the member list, the officer overview
(GA-1, GA-3)."""

from __future__ import annotations

import pytest

from tests.conftest import Api, Cast, error_code

MEMBER_FIELDS = {"account_id", "display_name", "avatar_text", "role", "badge", "verified",
                 "muted_until", "ip_province"}


@pytest.mark.parametrize("who", ["outsider", "newcomer", "member", "officer"])
def test_info_page_by_code_for_any_logged_in_account(api: Api, cast: Cast, who: str) -> None:
    r = api.get(f"/api/groups/by-code/{cast.group['code']}", as_=cast[who])
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["id"] == cast.group["id"]
    assert info["name"] == "项目协调群"
    assert info["category"] == "work"
    assert info["member_count"] == 5
    assert info["rules_text"] == "文明交流"
    assert info["rules_version"] == 1


def test_info_page_code_is_case_insensitive_and_exact(api: Api, cast: Cast) -> None:
    code = cast.group["code"]
    assert api.get(f"/api/groups/by-code/{code.lower()}", as_=cast.outsider).status_code == 200
    mixed = code[:4].lower() + code[4:]
    assert api.get(f"/api/groups/by-code/{mixed}", as_=cast.outsider).status_code == 200
    for wrong in (code[:7], code + "0", "ZZZZZZZZ" if code != "ZZZZZZZZ" else "YYYYYYYY"):
        r = api.get(f"/api/groups/by-code/{wrong}", as_=cast.outsider)
        assert r.status_code == 404, wrong
        assert error_code(r) == "not_found"


def test_info_page_needs_login(api: Api, cast: Cast) -> None:
    r = api.get(f"/api/groups/by-code/{cast.group['code']}")
    assert r.status_code == 401
    assert error_code(r) == "not_authenticated"


def test_group_by_id_is_not_found_for_outsiders_exactly_like_a_missing_group(
        api: Api, cast: Cast) -> None:
    hidden = api.get(f"/api/groups/{cast.group['id']}", as_=cast.outsider)
    missing = api.get("/api/groups/999999", as_=cast.outsider)
    assert hidden.status_code == missing.status_code == 404
    assert error_code(hidden) == "not_found"
    assert hidden.json() == missing.json()
    for path in ("members", "join-requests"):
        hidden = api.get(f"/api/groups/{cast.group['id']}/{path}", as_=cast.outsider)
        missing = api.get(f"/api/groups/999999/{path}", as_=cast.outsider)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == missing.json()


@pytest.mark.parametrize("who", ["founder", "admin", "member", "member2", "newcomer", "officer"])
def test_group_by_id_for_members_and_officers(api: Api, cast: Cast, who: str) -> None:
    r = api.get(f"/api/groups/{cast.group['id']}", as_=cast[who])
    assert r.status_code == 200, r.text
    assert r.json()["code"] == cast.group["code"]
    assert r.json()["member_count"] == 5


def test_members_list_shows_badges_and_display_names_only(api: Api, cast: Cast) -> None:
    r = api.get(f"/api/groups/{cast.group['id']}/members", as_=cast.member)
    assert r.status_code == 200, r.text
    rows = r.json()
    assert all(set(row) == MEMBER_FIELDS for row in rows)
    by_id = {row["account_id"]: row for row in rows}
    assert set(by_id) == {cast[k].id for k in ("founder", "admin", "member", "member2",
                                               "newcomer")}
    expected = {"founder": ("founder", "群主"), "admin": ("admin", "管理员"),
                "member": ("member", None), "member2": ("member", None),
                "newcomer": ("member", None)}
    for key, (role, badge) in expected.items():
        row = by_id[cast[key].id]
        assert (row["role"], row["badge"]) == (role, badge), key
        assert row["display_name"] == cast[key].display_name
        assert row["verified"] is (key != "newcomer")
        assert row["muted_until"] is None
    # The officer oversees without being a member; outsiders see nothing.
    assert api.get(f"/api/groups/{cast.group['id']}/members", as_=cast.officer).json() == rows
    r = api.get(f"/api/groups/{cast.group['id']}/members", as_=cast.outsider)
    assert r.status_code == 404
    assert error_code(r) == "not_found"


def test_my_groups_lists_roles(api: Api, cast: Cast) -> None:
    for key, role in (("founder", "founder"), ("admin", "admin"), ("newcomer", "member")):
        mine = api.get("/api/groups", as_=cast[key]).json()
        assert [(g["group"]["id"], g["role"], g["muted_until"]) for g in mine] == [
            (cast.group["id"], role, None)]
    assert api.get("/api/groups", as_=cast.outsider).json() == []


def test_officer_overview(api: Api, cast: Cast) -> None:
    other = api.post("/api/groups", as_=cast.outsider,
                     json={"name": "路人群", "category": "social"}).json()
    r = api.get("/api/officer/groups", as_=cast.officer)
    assert r.status_code == 200, r.text
    assert [g["id"] for g in r.json()] == [cast.group["id"], other["id"]]
    assert r.json()[0]["member_count"] == 5


@pytest.mark.parametrize("who", ["founder", "admin", "member", "outsider", "newcomer"])
def test_officer_overview_is_forbidden_to_others(api: Api, cast: Cast, who: str) -> None:
    r = api.get("/api/officer/groups", as_=cast[who])
    assert r.status_code == 403
    assert error_code(r) == "forbidden"
