"""Realtime delivery: one WebSocket per logged-in client.

The hub subscribes to the event bus, which publishes only after a transaction commits, so a
client never sees a message that was rolled back. The bus may call from any thread (routes
run in a thread pool); the hub hops onto its event loop before touching connections. Each
connection knows its account's groups and follows membership events, so routing a message
costs no database query. A client that falls more than ``QUEUE_LIMIT`` frames behind is
disconnected (it reloads history on reconnect) rather than letting memory grow.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from qunguan.kernel.events import Event, EventType

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000

_JOIN = {EventType.MEMBER_JOINED}
_LEAVE = {EventType.MEMBER_REMOVED, EventType.MEMBER_LEFT}
_CLOSE_ACCOUNT = {EventType.IDENTITY_BLACKLISTED}


@dataclass(eq=False)
class Connection:
    account_id: int
    session_id: int
    groups: set[int]
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    closed: bool = False
    # Membership events that arrived while the connection's groups were being read from the
    # database; replayed once they are known (None: groups known, follow events directly).
    pending: list[Event] | None = None

    def offer(self, frame: dict[str, Any] | None) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("realtime client of account %s fell behind; disconnecting",
                        self.account_id)
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            # Make room for the close sentinel even when the queue is full.
            while self.queue.full():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


def frame_of(event: Event) -> dict[str, Any]:
    return {"type": event.type.name.lower(), "group_id": event.group_id,
            "payload": event.payload}


class Hub:
    def __init__(self) -> None:
        self._by_account: dict[int, set[Connection]] = {}
        self._by_group: dict[int, set[Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def connection_count(self) -> int:
        return sum(len(c) for c in self._by_account.values())

    def register_loading(self, account_id: int, session_id: int) -> Connection:
        """Register before reading the account's groups, so that a membership change that
        commits during the read is not lost: it is kept and replayed by ``load``."""
        conn = Connection(account_id, session_id, set(), pending=[])
        self._by_account.setdefault(account_id, set()).add(conn)
        return conn

    def load(self, conn: Connection, groups: set[int]) -> None:
        """The groups read from the database, then the membership events seen meanwhile, in
        order (replaying one the read already reflects changes nothing)."""
        pending, conn.pending = conn.pending or [], None
        for group_id in groups:
            self._follow(conn, group_id)
        for event in pending:
            assert event.group_id is not None
            if event.type in _JOIN:
                self._follow(conn, event.group_id)
            else:
                self._unfollow(conn, event.group_id)

    def register(self, account_id: int, session_id: int, groups: set[int]) -> Connection:
        conn = Connection(account_id, session_id, set())
        self._by_account.setdefault(account_id, set()).add(conn)
        for group_id in groups:
            self._follow(conn, group_id)
        return conn

    def _follow(self, conn: Connection, group_id: int) -> None:
        conn.groups.add(group_id)
        self._by_group.setdefault(group_id, set()).add(conn)

    def _unfollow(self, conn: Connection, group_id: int) -> None:
        conn.groups.discard(group_id)
        conns = self._by_group.get(group_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_group[group_id]

    def unregister(self, conn: Connection) -> None:
        conns = self._by_account.get(conn.account_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_account[conn.account_id]
        for group_id in list(conn.groups):
            self._unfollow(conn, group_id)

    def on_event(self, event: Event) -> None:
        """Bus subscriber; safe to call from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.dispatch(event)
        else:
            loop.call_soon_threadsafe(self.dispatch, event)

    def dispatch(self, event: Event) -> None:
        frame = frame_of(event)
        targets: set[Connection] = set()
        if event.group_id is not None:
            targets.update(self._by_group.get(event.group_id, ()))
        for account_id in event.account_ids:
            targets.update(self._by_account.get(account_id, ()))
        if event.type in _JOIN and event.group_id is not None:
            for account_id in event.account_ids:
                for conn in self._by_account.get(account_id, ()):
                    if conn.pending is not None:
                        conn.pending.append(event)
                    else:
                        self._follow(conn, event.group_id)
                    targets.add(conn)
        for conn in targets:
            conn.offer(frame)
        if event.type in _LEAVE and event.group_id is not None:
            for account_id in event.account_ids:
                for conn in self._by_account.get(account_id, ()):
                    if conn.pending is not None:
                        conn.pending.append(event)
                    else:
                        self._unfollow(conn, event.group_id)
        if event.type == EventType.LOGGED_OUT:
            session_id = event.payload.get("session_id")
            for account_id in event.account_ids:
                for conn in list(self._by_account.get(account_id, ())):
                    if conn.session_id == session_id:
                        conn.close()
        if event.type in _CLOSE_ACCOUNT:
            for account_id in event.account_ids:
                for conn in list(self._by_account.get(account_id, ())):
                    conn.close()
