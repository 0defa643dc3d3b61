"""Read markers: how far a member has read in a group, behind the web's unread counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from qunguan.identity import queries as identity_queries
from qunguan.kernel.models import AuditRecord, OutboxEvent
from qunguan.messaging import actions, queries
from tests.conftest import Api, Cast


def _post(api: Api, cast: Cast, who: str, text: str) -> int:
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast[who],
                 json={"text": text, "confirm": True})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _unread(app: Any, cast: Cast, who: str) -> dict[int, int]:
    uow = app.state.uows()
    try:
        viewer = identity_queries.get_account(uow, cast[who].id)
        return queries.unread_counts(uow, viewer=viewer, group_ids=[cast.group["id"], 999])
    finally:
        uow.close()


def _mark(app: Any, cast: Cast, who: str, message_id: int) -> None:
    uow = app.state.uows()
    try:
        viewer = identity_queries.get_account(uow, cast[who].id)
        actions.do_mark_read(uow, acting=viewer, group_id=cast.group["id"],
                             message_id=message_id)
        uow.commit()
    finally:
        uow.close()


def _counts(app: Any) -> tuple[int, int]:
    uow = app.state.uows()
    try:
        return (int(uow.session.scalar(select(func.count(AuditRecord.id))) or 0),
                int(uow.session.scalar(select(func.count(OutboxEvent.id))) or 0))
    finally:
        uow.close()


def test_unread_counts_others_delivered_messages_after_the_marker(api: Api, cast: Cast,
                                                                   app: Any) -> None:
    gid = cast.group["id"]
    assert _unread(app, cast, "member") == {}
    first = _post(api, cast, "founder", "一")
    _post(api, cast, "admin", "二")
    _post(api, cast, "member", "自己的")
    assert _unread(app, cast, "member") == {gid: 2}
    assert _unread(app, cast, "founder") == {gid: 2}
    before = _counts(app)
    _mark(app, cast, "member", first)
    assert _unread(app, cast, "member") == {gid: 1}
    assert _counts(app) == before  # private reading state: no audit record, no event


def test_the_marker_never_moves_back(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    ids = [_post(api, cast, "founder", f"消息{i}") for i in range(3)]
    _mark(app, cast, "member", ids[2])
    _mark(app, cast, "member", ids[0])  # an older page read later
    assert _unread(app, cast, "member") == {}
    _post(api, cast, "founder", "新的")
    assert _unread(app, cast, "member") == {gid: 1}
