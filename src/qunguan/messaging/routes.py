"""Messaging API: post, reply, mention, forward, recall, history, and the WebSocket."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from qunguan.groups import queries as group_queries
from qunguan.identity import SESSION_COOKIE, CurrentAccount
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.web import Admission, IdPath, UowDep
from qunguan.messaging import actions, queries
from qunguan.messaging.realtime import Hub
from qunguan.messaging.schemas import (
    DeleteIn,
    ForwardIn,
    MessageCreate,
    MessagePage,
    MessagePublic,
)

router = APIRouter(prefix="/api", tags=["messaging"])
log = logging.getLogger(__name__)


def _one(uow: UowDep, message: Any) -> MessagePublic:
    return MessagePublic.model_validate(queries.render(uow, [message])[0])


@router.post("/groups/{group_id}/messages", status_code=201, response_model=MessagePublic)
def send_message(group_id: IdPath, body: MessageCreate, uow: UowDep,
                 me: CurrentAccount) -> MessagePublic:
    plan = actions.check_send_message(uow, acting=me, group_id=group_id, text=body.text,
                                      reply_to_id=body.reply_to_id, mentions=body.mentions,
                                      confirmed=body.confirm)
    message = actions.do_send_message(uow, plan, acting=me)
    view = queries.render(uow, [message], sender=me, sender_role=plan.role,
                          mentions=plan.mentions)[0]
    return MessagePublic.model_validate(view)


@router.get("/groups/{group_id}/messages", response_model=MessagePage)
def list_messages(group_id: IdPath, uow: UowDep, me: CurrentAccount, before: str | None = None,
                  limit: int = 50) -> MessagePage:
    rows, cursor = queries.history(uow, viewer=me, group_id=group_id, before=before,
                                   limit=limit)
    return MessagePage(items=[MessagePublic.model_validate(m) for m in queries.render(uow, rows)],
                       next_cursor=cursor)


@router.get("/messages/{message_id}", response_model=MessagePublic)
def get_message(message_id: IdPath, uow: UowDep, me: CurrentAccount) -> MessagePublic:
    return _one(uow, queries.access_message(uow, viewer=me, message_id=message_id))


@router.post("/messages/{message_id}/forward", status_code=201,
             response_model=list[MessagePublic])
def forward(message_id: IdPath, body: ForwardIn, uow: UowDep,
            me: CurrentAccount) -> list[MessagePublic]:
    plan = actions.check_forward(uow, acting=me, message_id=message_id,
                                 group_ids=body.group_ids, confirmed=body.confirm)
    copies = actions.do_forward(uow, plan, acting=me)
    return [MessagePublic.model_validate(m) for m in queries.render(uow, copies)]


@router.post("/messages/{message_id}/recall", response_model=MessagePublic)
def recall(message_id: IdPath, uow: UowDep, me: CurrentAccount) -> MessagePublic:
    return _one(uow, actions.do_recall(uow, acting=me, message_id=message_id))


@router.post("/messages/{message_id}/delete", response_model=MessagePublic)
def delete(message_id: IdPath, body: DeleteIn, uow: UowDep, me: CurrentAccount) -> MessagePublic:
    return _one(uow, actions.do_delete_message(uow, acting=me, message_id=message_id,
                                               reason=body.reason))


PONG: dict[str, Any] = {"type": "pong", "group_id": None, "payload": {}}
MAX_CLIENT_FRAME = 1000


def _is_ping(text: str | None) -> bool:
    """Clients send only ``{"type": "ping"}``; anything else (binary frames, other JSON,
    garbage) is ignored rather than allowed to end the connection."""
    if text is None or len(text) > MAX_CLIENT_FRAME:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") == "ping"


def _same_origin(websocket: WebSocket) -> bool:
    """A browser always sends Origin on a WebSocket; a page of another site must not ride on
    the member's session cookie (cross-site WebSocket hijacking)."""
    origin = websocket.headers.get("origin", "")
    host = websocket.headers.get("host", "")
    scheme, _, rest = origin.partition("://")
    return bool(host) and scheme in ("http", "https") and rest == host


def _authenticate(websocket: WebSocket, token: str | None) -> tuple[int, int, float]:
    """The account, the session and the seconds the token has left."""
    uow = websocket.app.state.uows()
    try:
        account, session = identity_queries.authenticate_session(uow, token)
        return account.id, session.id, (session.expires_at - uow.now()).total_seconds()
    finally:
        uow.rollback()
        uow.close()


def _groups_of(websocket: WebSocket, account_id: int) -> set[int]:
    uow = websocket.app.state.uows()
    try:
        return group_queries.member_group_ids(uow, account_id)
    finally:
        uow.rollback()
        uow.close()


@router.websocket("/ws")
async def realtime(websocket: WebSocket) -> None:
    """Live events of the caller's groups. Authenticate with ``?token=`` (browsers cannot set
    headers on a WebSocket), an ``Authorization: Bearer`` header, or the web pages' session
    cookie from a page of the same origin."""
    token = websocket.query_params.get("token")
    header = websocket.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    if not token and _same_origin(websocket):
        token = websocket.cookies.get(SESSION_COOKIE)
    admission: Admission = websocket.app.state.admission
    try:
        async with admission.semaphore:  # its queries need a pool thread like any request
            account_id, session_id, lifetime = await run_in_threadpool(_authenticate, websocket,
                                                                       token)
        expires = asyncio.get_running_loop().time() + lifetime  # before any further wait
    except QunguanError as exc:
        # Accept first: a close before the handshake reaches a real client as a bare HTTP 403,
        # and the 4401 with its reason would never arrive.
        await websocket.accept()
        await websocket.close(code=4401, reason=exc.code)
        return
    hub: Hub = websocket.app.state.hub
    # Registered before the groups are read: a removal that commits during the read is kept
    # and replayed (Hub.load), so the socket cannot go on following a group it left.
    conn = hub.register_loading(account_id, session_id)
    try:
        async with admission.semaphore:
            groups = await run_in_threadpool(_groups_of, websocket, account_id)
    except BaseException:
        hub.unregister(conn)
        raise
    hub.load(conn, groups)

    async def pump() -> None:
        while True:
            remaining = expires - asyncio.get_running_loop().time()
            try:
                # The socket lives no longer than its token.
                frame = await asyncio.wait_for(conn.queue.get(), timeout=max(remaining, 0))
            except TimeoutError:
                await websocket.close(code=4401, reason="token_expired")
                return
            if frame is None:
                await websocket.close(code=4000, reason="closed")
                return
            await websocket.send_json(frame)

    async def listen() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if _is_ping(message.get("text")):
                conn.offer(PONG)

    tasks: set[asyncio.Task[None]] = set()
    try:
        await websocket.accept()
        await websocket.send_json({"type": "hello", "group_id": None,
                                   "payload": {"account_id": account_id,
                                               "groups": sorted(groups)}})
        tasks = {asyncio.create_task(pump()), asyncio.create_task(listen())}
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.unregister(conn)
        for task in tasks:
            task.cancel()
        for task in tasks:
            # A client that vanished mid-send is routine; anything else is a bug to see.
            try:
                await task
            except (asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                continue
            except Exception:
                log.exception("realtime connection of account %s failed", account_id)
