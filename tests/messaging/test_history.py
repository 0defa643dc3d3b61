"""History: newest first, opaque cursors, only for members."""

from __future__ import annotations

import base64
from typing import Any

from tests.conftest import Api, Cast, error_code
from tests.messaging.conftest import history, posted


def test_newest_first_with_cursor_chain(api: Api, cast: Cast, gid: int) -> None:
    sent = [posted(api, cast.member if i % 2 else cast.member2, gid, f"第{i}条")["id"]
            for i in range(7)]
    seen: list[int] = []
    cursors: list[str | None] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3}
        if cursor is not None:
            params["before"] = cursor
        r = history(api, cast.admin, gid, **params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 3
        seen.extend(m["id"] for m in page["items"])
        cursor = page["next_cursor"]
        cursors.append(cursor)
        if cursor is None:
            break
    assert seen == list(reversed(sent))  # newest first, every message once
    assert [len(c) > 0 for c in cursors[:-1]] == [True, True]
    assert cursors[-1] is None
    assert len(cursors) == 3  # 3 + 3 + 1


def test_exact_multiple_of_limit_ends_with_null(api: Api, cast: Cast, gid: int) -> None:
    for i in range(6):
        posted(api, cast.member, gid, f"消息{i}")
    first = history(api, cast.member, gid, limit=3).json()
    second = history(api, cast.member, gid, limit=3, before=first["next_cursor"]).json()
    assert len(second["items"]) == 3
    assert second["next_cursor"] is None


def test_page_items_are_public_messages(api: Api, cast: Cast, gid: int) -> None:
    m = posted(api, cast.founder, gid, "公告")
    [item] = history(api, cast.member, gid).json()["items"]
    assert item == m


def test_empty_group(api: Api, cast: Cast, gid: int) -> None:
    r = history(api, cast.member, gid)
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None}


def test_limit_is_clamped(api: Api, cast: Cast, gid: int) -> None:
    for i in range(3):
        posted(api, cast.member, gid, f"消息{i}")
    assert len(history(api, cast.member, gid, limit=0).json()["items"]) == 1
    assert len(history(api, cast.member, gid, limit=-5).json()["items"]) == 1
    assert len(history(api, cast.member, gid, limit=10_000).json()["items"]) == 3
    r = history(api, cast.member, gid, limit="many")
    assert (r.status_code, error_code(r)) == (422, "invalid_request")


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


BAD_CURSORS = ["nonsense!", "中文", _b64("x:5"), _b64("m:abc"), _b64("m:"), _b64("m:-3"),
               _b64("m:0"), _b64(f"m:{2**63}"), _b64("m:" + "9" * 5000), "%%%%", "////",
               "A" * 10_000]


def test_invalid_cursor(api: Api, cast: Cast, gid: int) -> None:
    posted(api, cast.member, gid, "一条")
    for cursor in BAD_CURSORS:
        r = history(api, cast.member, gid, before=cursor)
        assert (r.status_code, error_code(r)) == (422, "invalid_cursor"), cursor[:40]
    # the largest id that exists as a number is a valid (if pointless) cursor
    r = history(api, cast.member, gid, before=_b64(f"m:{2**63 - 1}"))
    assert r.status_code == 200
    assert len(r.json()["items"]) == 1


def test_outsider_and_missing_group(api: Api, cast: Cast, gid: int) -> None:
    posted(api, cast.member, gid, "内部消息")
    r1 = history(api, cast.outsider, gid)
    r2 = history(api, cast.outsider, 999999)
    assert (r1.status_code, error_code(r1)) == (404, "not_found")
    assert r1.json() == r2.json()


def test_unverified_member_may_read(api: Api, cast: Cast, gid: int) -> None:
    m = posted(api, cast.member, gid, "欢迎新人")
    r = history(api, cast.newcomer, gid)
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["items"]] == [m["id"]]


def test_removed_member_loses_history(api: Api, cast: Cast, gid: int) -> None:
    posted(api, cast.member2, gid, "之前的消息")
    r = api.post(f"/api/groups/{gid}/members/{cast.member.id}/remove", as_=cast.founder,
                 json={})
    assert r.status_code == 204, r.text
    r = history(api, cast.member, gid)
    assert (r.status_code, error_code(r)) == (404, "not_found")
