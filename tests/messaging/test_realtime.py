"""Realtime delivery over /api/ws: what each socket receives, and what it must not."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from qunguan.screening import VerdictKind
from tests.conftest import Api, Cast, login
from tests.messaging.conftest import (
    barrier,
    forward,
    make_group,
    next_frame,
    post,
    posted,
    ws_url,
)
from tests.screening.conftest import AddDetector, add_detector  # noqa: F401


def hello(ws: Any) -> dict[str, Any]:
    frame = next_frame(ws)
    assert frame["type"] == "hello", frame
    return frame


def test_hello_lists_the_groups(api: Api, cast: Cast, gid: int) -> None:
    other = make_group(api, cast.member2, "另一个群", cast.member)
    with api.client.websocket_connect(ws_url(cast.member)) as ws:
        frame = hello(ws)
        assert frame == {"type": "hello", "group_id": None,
                         "payload": {"account_id": cast.member.id,
                                     "groups": sorted([gid, other["id"]])}}
    with api.client.websocket_connect(ws_url(cast.outsider)) as ws:
        assert hello(ws)["payload"]["groups"] == []


def test_bearer_header_also_authenticates(api: Api, cast: Cast, gid: int) -> None:
    with api.client.websocket_connect("/api/ws", headers=cast.member.auth) as ws:
        assert hello(ws)["payload"]["account_id"] == cast.member.id


def refused(api: Api, url: str, **kwargs: Any) -> WebSocketDisconnect:
    """The server accepts, then closes with 4401 and the error code as the reason (a close
    before accepting would reach real clients as a bare HTTP 403)."""
    with api.client.websocket_connect(url, **kwargs) as ws, \
            pytest.raises(WebSocketDisconnect) as exc:
        next_frame(ws)
    return exc.value


def test_bad_or_missing_token_is_refused(api: Api, cast: Cast) -> None:
    for url, reason in (("/api/ws?token=nope", "invalid_token"),
                        ("/api/ws", "not_authenticated"),
                        ("/api/ws?token=", "not_authenticated"),
                        ("/api/ws?token=%00", "invalid_token")):
        closed = refused(api, url)
        assert (closed.code, closed.reason) == (4401, reason), url
    closed = refused(api, "/api/ws", headers={"Authorization": "Bearer nope"})
    assert (closed.code, closed.reason) == (4401, "invalid_token")
    assert app_hub_connections(api) == 0


def test_revoked_token_is_refused(api: Api, cast: Cast) -> None:
    token = cast.member.token
    assert api.delete("/api/sessions/current", as_=cast.member).status_code == 204
    closed = refused(api, f"/api/ws?token={token}")
    assert (closed.code, closed.reason) == (4401, "invalid_token")


def test_expired_token_is_refused(api: Api, cast: Cast, clock: Any, settings: Any) -> None:
    clock.advance(seconds=settings.token_ttl_seconds + 1)
    closed = refused(api, ws_url(cast.member))
    assert (closed.code, closed.reason) == (4401, "token_expired")


def test_posted_message_reaches_members(api: Api, cast: Cast, gid: int, clock: Any) -> None:
    clock.advance(microseconds=123_400)  # the frame must match the REST answer exactly
    with api.client.websocket_connect(ws_url(cast.member)) as ws, \
            api.client.websocket_connect(ws_url(cast.outsider)) as outsider:
        hello(ws), hello(outsider)
        m = posted(api, cast.member2, gid, "实时消息")
        frame = next_frame(ws)
        assert frame == {"type": "message_posted", "group_id": gid,
                         "payload": {"message": m}}
        barrier(ws)
        barrier(outsider)  # not a member: nothing


def test_sender_gets_own_message_once_even_if_mentioned(api: Api, cast: Cast,
                                                        gid: int) -> None:
    with api.client.websocket_connect(ws_url(cast.member)) as ws:
        hello(ws)
        m = posted(api, cast.member, gid, "@自己", mentions=[cast.member.id])
        assert next_frame(ws)["payload"]["message"]["id"] == m["id"]
        barrier(ws)


def test_recall_frame(api: Api, cast: Cast, gid: int) -> None:
    m = posted(api, cast.member2, gid, "马上撤回")
    with api.client.websocket_connect(ws_url(cast.member)) as ws:
        hello(ws)
        assert api.post(f"/api/messages/{m['id']}/recall", as_=cast.member2).status_code == 200
        frame = next_frame(ws)
        assert frame == {"type": "message_recalled", "group_id": gid,
                         "payload": {"message_id": m["id"]}}
        barrier(ws)


def test_delete_frame(api: Api, cast: Cast, gid: int) -> None:
    m = posted(api, cast.member2, gid, "将被删除")
    with api.client.websocket_connect(ws_url(cast.member)) as ws:
        hello(ws)
        r = api.post(f"/api/messages/{m['id']}/delete", as_=cast.admin, json={})
        assert r.status_code == 200
        frame = next_frame(ws)
        assert (frame["type"], frame["group_id"]) == ("message_deleted", gid)
        assert frame["payload"] == {"message_id": m["id"]}


def test_rejected_requests_send_nothing(api: Api, cast: Cast, gid: int,
                                        settings: Any) -> None:
    m = posted(api, cast.member2, gid, "一条")
    with api.client.websocket_connect(ws_url(cast.member)) as ws:
        hello(ws)
        rejected = [
            post(api, cast.member2, gid, "长" * (settings.max_message_chars + 1)),
            post(api, cast.member2, gid, "   "),
            post(api, cast.newcomer, gid, "未认证"),
            post(api, cast.member2, gid, "x", mentions=[cast.outsider.id]),
            forward(api, cast.member2, m["id"], [gid, 999999]),
            api.post(f"/api/messages/{m['id']}/recall", as_=cast.member),
            api.post(f"/api/messages/{m['id']}/delete", as_=cast.member, json={}),
        ]
        assert [r.status_code // 100 for r in rejected] == [4] * len(rejected)
        barrier(ws)


def test_forward_frames_reach_target_group(api: Api, cast: Cast, gid: int) -> None:
    other = make_group(api, cast.member2, "目标群", cast.member)
    source = posted(api, cast.member, gid, "转发实时")
    with api.client.websocket_connect(ws_url(cast.member2)) as ws:
        hello(ws)
        [copy] = forward(api, cast.member, source["id"], [other["id"]]).json()
        frame = next_frame(ws)
        assert frame == {"type": "message_forwarded", "group_id": other["id"],
                         "payload": {"message": copy}}
        barrier(ws)


def test_held_and_blocked_reach_only_the_sender(api: Api, cast: Cast, gid: int,
                                                add_detector: AddDetector) -> None:  # noqa: F811
    add_detector("review", VerdictKind.HOLD, "待审")
    add_detector("wall", VerdictKind.BLOCK, "违禁")
    with api.client.websocket_connect(ws_url(cast.member)) as mine, \
            api.client.websocket_connect(ws_url(cast.member2)) as theirs:
        hello(mine), hello(theirs)
        held = posted(api, cast.member, gid, "待审内容")
        frame = next_frame(mine)
        assert frame == {"type": "message_held", "group_id": None,
                         "payload": {"message": held}}
        assert post(api, cast.member, gid, "违禁内容").status_code == 422
        frame = next_frame(mine)
        assert (frame["type"], frame["group_id"]) == ("message_blocked", None)
        assert frame["payload"]["target_group_id"] == gid
        assert "text" not in frame["payload"]
        barrier(mine)
        barrier(theirs)


def test_removed_member_stops_receiving_that_group(api: Api, cast: Cast, gid: int) -> None:
    other = make_group(api, cast.member2, "还在的群", cast.member)
    with api.client.websocket_connect(ws_url(cast.member)) as ws:
        hello(ws)
        r = api.post(f"/api/groups/{gid}/members/{cast.member.id}/remove", as_=cast.founder,
                     json={"reason": "测试"})
        assert r.status_code == 204, r.text
        frame = next_frame(ws)
        assert (frame["type"], frame["group_id"]) == ("member_removed", gid)
        assert frame["payload"]["account_id"] == cast.member.id
        posted(api, cast.member2, gid, "你已经看不到了")
        barrier(ws)
        # The socket itself lives on for the member's other groups.
        m = posted(api, cast.member2, other["id"], "另一个群还能看到")
        assert next_frame(ws)["payload"]["message"]["id"] == m["id"]


def test_member_who_leaves_stops_receiving(api: Api, cast: Cast, gid: int) -> None:
    with api.client.websocket_connect(ws_url(cast.member)) as ws:
        hello(ws)
        assert api.post(f"/api/groups/{gid}/leave", as_=cast.member).status_code == 204
        assert next_frame(ws)["type"] == "member_left"
        posted(api, cast.member2, gid, "离开之后")
        barrier(ws)


def test_joining_starts_delivery(api: Api, cast: Cast, gid: int) -> None:
    from tests.conftest import join_by_invitation

    with api.client.websocket_connect(ws_url(cast.outsider)) as ws:
        hello(ws)
        posted(api, cast.member, gid, "加入之前")
        barrier(ws)
        join_by_invitation(api, cast.group, cast.founder, cast.outsider)
        frames = [next_frame(ws)]
        while frames[-1]["type"] != "member_joined":
            frames.append(next_frame(ws))
        assert frames[-1]["group_id"] == gid
        m = posted(api, cast.member, gid, "加入之后")
        assert next_frame(ws)["payload"]["message"]["id"] == m["id"]


def test_logout_closes_that_sessions_socket_only(api: Api, cast: Cast, gid: int) -> None:
    first_token = cast.member.token
    login(api, cast.member)  # a second session of the same account
    assert cast.member.token != first_token
    with api.client.websocket_connect(f"/api/ws?token={first_token}") as old, \
            api.client.websocket_connect(ws_url(cast.member)) as current:
        hello(old), hello(current)
        r = api.delete("/api/sessions/current",
                       headers={"Authorization": f"Bearer {first_token}"})
        assert r.status_code == 204, r.text
        # The account's sockets hear of the logout; the logged-out session's is then closed.
        assert next_frame(old)["type"] == "logged_out"
        with pytest.raises(WebSocketDisconnect) as exc:
            next_frame(old)
        assert exc.value.code == 4000
        assert next_frame(current)["type"] == "logged_out"
        m = posted(api, cast.member2, gid, "还连着的会话")
        assert next_frame(current)["payload"]["message"]["id"] == m["id"]
    assert app_hub_connections(api) == 0


def test_ping_pong(api: Api, cast: Cast) -> None:
    with api.client.websocket_connect(ws_url(cast.member)) as ws:
        hello(ws)
        ws.send_json({"type": "ping"})
        assert next_frame(ws) == {"type": "pong", "group_id": None, "payload": {}}
        ws.send_json({"type": "something else"})
        ws.send_json(["not", "a", "dict"])
        barrier(ws)


def test_client_garbage_is_ignored(api: Api, cast: Cast, gid: int) -> None:
    """Binary frames, bad JSON and oversized frames neither crash the handler nor end the
    socket: it keeps delivering."""
    with api.client.websocket_connect(ws_url(cast.member)) as ws:
        hello(ws)
        ws.send_bytes(b"\x00\x01binary")
        ws.send_bytes(b'{"type": "ping"}')  # pings are text frames only
        ws.send_text("not json")
        ws.send_text('{"type": "ping"' + " " * 2000 + "}")
        ws.send_text("")
        barrier(ws)
        m = posted(api, cast.member2, gid, "还在连接")
        assert next_frame(ws)["payload"]["message"]["id"] == m["id"]
        assert app_hub_connections(api) == 1
    assert app_hub_connections(api) == 0


def test_recall_of_a_held_message_tells_only_the_sender(
        api: Api, cast: Cast, gid: int, add_detector: AddDetector) -> None:  # noqa: F811
    add_detector("review", VerdictKind.HOLD, "待审")
    held = posted(api, cast.member, gid, "待审后撤回")
    with api.client.websocket_connect(ws_url(cast.member)) as mine, \
            api.client.websocket_connect(ws_url(cast.member2)) as theirs:
        hello(mine), hello(theirs)
        assert api.post(f"/api/messages/{held['id']}/recall", as_=cast.member).status_code == 200
        assert next_frame(mine) == {"type": "message_recalled", "group_id": None,
                                    "payload": {"message_id": held["id"]}}
        barrier(mine)
        barrier(theirs)  # the group never learns the held message existed


def test_closed_sockets_are_unregistered(api: Api, cast: Cast) -> None:
    with api.client.websocket_connect(ws_url(cast.member)) as ws:
        hello(ws)
        assert app_hub_connections(api) == 1
    assert app_hub_connections(api) == 0


def app_hub_connections(api: Api) -> int:
    return int(api.client.app.state.hub.connection_count)  # type: ignore[attr-defined]


def test_socket_closes_when_its_token_expires(api: Api, cast: Cast, app: Any) -> None:
    """A socket lives no longer than its token (here: one that has 0.3 s left)."""
    from datetime import timedelta

    from sqlalchemy import update

    from qunguan.identity.models import AuthToken
    from qunguan.identity.queries import token_hash

    clock = app.state.uows.clock
    uow = app.state.uows()
    uow.session.execute(update(AuthToken).where(
        AuthToken.token_hash == token_hash(cast.member.token)).values(
        expires_at=clock.now() + timedelta(seconds=0.3)))
    uow.commit()
    uow.close()
    with api.client.websocket_connect(f"/api/ws?token={cast.member.token}") as ws:
        assert ws.receive_json()["type"] == "hello"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
        assert closed.value.reason == "token_expired"
