"""Helpers and fixtures of the messaging tests (the screening tests use them too)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select
from starlette.testclient import WebSocketTestSession

from qunguan.kernel.models import AuditRecord, OutboxEvent
from qunguan.messaging.models import ForwardCount, Message
from tests.cast import Person
from tests.conftest import COLLECTOR, Api, Cast, join_by_invitation


def post(api: Api, person: Person, group_id: int, text: str, **body: Any) -> Any:
    return api.post(f"/api/groups/{group_id}/messages", as_=person, json={"text": text, **body})


def posted(api: Api, person: Person, group_id: int, text: str, **body: Any) -> dict[str, Any]:
    r = post(api, person, group_id, text, **body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def forward(api: Api, person: Person, message_id: int, group_ids: list[int],
            **body: Any) -> Any:
    return api.post(f"/api/messages/{message_id}/forward", as_=person,
                    json={"group_ids": group_ids, **body})


def history(api: Api, person: Person, group_id: int, **params: Any) -> Any:
    return api.get(f"/api/groups/{group_id}/messages", as_=person, params=params)


def history_ids(api: Api, person: Person, group_id: int) -> list[int]:
    r = history(api, person, group_id, limit=200)
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["items"]]


def _scalar(app: Any, stmt: Any) -> Any:
    uow = app.state.uows()
    try:
        return uow.session.scalar(stmt)
    finally:
        uow.close()


def count_messages(app: Any) -> int:
    return int(_scalar(app, select(func.count(Message.id))))


def count_rows(app: Any) -> tuple[int, int, int, int]:
    """Messages, forward counters, audit records and outbox events: what a failed request
    must leave exactly as it found them."""
    return (int(_scalar(app, select(func.count(Message.id)))),
            int(_scalar(app, select(func.count(ForwardCount.origin_id)))),
            int(_scalar(app, select(func.count(AuditRecord.id)))),
            int(_scalar(app, select(func.count(OutboxEvent.id)))))


def message_row(app: Any, message_id: int) -> Message | None:
    return _scalar(app, select(Message).where(Message.id == message_id))  # type: ignore[no-any-return]


def stored_forwards(app: Any, origin_id: int) -> int | None:
    return _scalar(app, select(ForwardCount.forwards).where(  # type: ignore[no-any-return]
        ForwardCount.origin_id == origin_id))


def copies_of(app: Any, origin_id: int) -> int:
    return int(_scalar(app, select(func.count(Message.id)).where(Message.origin_id == origin_id)))


def make_group(api: Api, founder: Person, name: str, *members: Person) -> dict[str, Any]:
    r = api.post("/api/groups", as_=founder,
                 json={"name": name, "category": "work", "rules_text": "文明交流"})
    assert r.status_code == 201, r.text
    group = dict(r.json())
    for person in members:
        join_by_invitation(api, group, founder, person)
    return group


@pytest.fixture
def gid(cast: Cast) -> int:
    return int(cast.group["id"])


@pytest.fixture
def other_groups(api: Api, cast: Cast, settings: Any) -> list[dict[str, Any]]:
    """As many further groups as one forward may target, founded by member2 with member in
    each, so that member belongs to the cast group and to all of these."""
    return [make_group(api, cast.member2, f"转发测试群{i}", cast.member)
            for i in range(settings.max_forward_targets)]


# --- WebSocket ----------------------------------------------------------------------------

FRAME_TIMEOUT = 5.0


def next_frame(ws: WebSocketTestSession, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
    """ws.receive_json() with a time limit: Starlette's test session blocks forever, which
    would turn a missing frame into a hung suite instead of a failure."""

    async def receive() -> Any:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    message = ws.portal.call(receive)
    ws._raise_on_close(message)
    COLLECTOR.texts.append(("websocket frame", message["text"]))  # the PII guard reads it
    return dict(json.loads(message["text"]))


def barrier(ws: WebSocketTestSession) -> None:
    """Assert nothing else is queued for this socket. Events are handed to the hub's loop
    before the HTTP response returns, so anything they produce is queued ahead of the pong."""
    ws.send_json({"type": "ping"})
    frame = next_frame(ws)
    assert frame["type"] == "pong", frame


def ws_url(person: Person) -> str:
    return f"/api/ws?token={person.token}"
