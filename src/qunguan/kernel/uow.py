"""The unit of work: one transaction, the events it emits, and what it knows of the request.

Actions write through ``uow.session``; ``uow.emit`` adds an outbox row to the same
transaction and queues the event for the in-process bus, which runs only after the commit
succeeds. Nothing is delivered for a transaction that rolled back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from qunguan.config import Settings
from qunguan.kernel.clock import Clock
from qunguan.kernel.events import Event, EventBus, EventType
from qunguan.kernel.models import AuditRecord, OutboxEvent


@dataclass(frozen=True)
class RequestMeta:
    """Where an action came from (LR-2): the client's address and port, a request id."""

    source_ip: str | None = None
    source_port: int | None = None
    request_id: str | None = None
    client_fingerprint: str | None = None


class HasId(Protocol):
    @property
    def id(self) -> int: ...


class UnitOfWork:
    def __init__(self, session: Session, *, settings: Settings, clock: Clock, bus: EventBus,
                 meta: RequestMeta | None = None) -> None:
        self.session = session
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self.meta = meta or RequestMeta()
        self._pending: list[tuple[OutboxEvent, Event]] = []

    def now(self) -> datetime:
        return self.clock.now()

    def emit(self, type: EventType, *, group_id: int | None = None,
             account_ids: tuple[int, ...] = (), **payload: Any) -> Event:
        """Add the event's outbox row to this transaction; publish it after commit."""
        row = OutboxEvent(event_type=int(type), group_id=group_id,
                          payload={**payload, "account_ids": list(account_ids)},
                          created_at=self.now(), attempts=0)
        self.session.add(row)  # flushed with the rest: no extra round trip per event
        event = Event(type, payload, group_id, account_ids)
        self._pending.append((row, event))
        return event

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction. When the block raises, its writes are rolled back and the
        events it emitted are dropped with them (never published), and the error propagates."""
        mark = len(self._pending)
        try:
            with self.session.begin_nested():
                yield
        except BaseException:
            del self._pending[mark:]
            raise

    def end_read(self) -> None:
        """End a transaction that has only read, releasing its locks before slow work (a
        password hash). Refuses if pending ORM changes or events would be lost; it cannot see
        writes already flushed or issued as bulk UPDATE/DELETE, so call it only before any
        write (as do_login does)."""
        if self.session.new or self.session.dirty or self.session.deleted or self._pending:
            raise RuntimeError("end_read() after writes: they would be rolled back")
        self.session.rollback()

    def commit(self) -> None:
        self.session.commit()
        pending, self._pending = self._pending, []
        self.bus.publish([dataclasses.replace(event, outbox_id=row.id)
                          for row, event in pending])

    def rollback(self) -> None:
        self.session.rollback()
        self._pending = []

    def close(self) -> None:
        self.session.close()


class UnitOfWorkFactory:
    def __init__(self, sessions: sessionmaker[Session], *, settings: Settings, clock: Clock,
                 bus: EventBus) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.bus = bus

    def __call__(self, meta: RequestMeta | None = None) -> UnitOfWork:
        return UnitOfWork(self.sessions(), settings=self.settings, clock=self.clock,
                          bus=self.bus, meta=meta)


def _id_of(thing: HasId | int) -> int:
    return thing if isinstance(thing, int) else thing.id


def record_audit(uow: UnitOfWork, type: EventType, *, acting: HasId | int,
                 subject_type: str | None = None, subject_id: object = None,
                 group_id: int | None = None, extra: dict[str, Any] | None = None) -> AuditRecord:
    """Write the audit record of an action in the action's own transaction."""
    row = AuditRecord(
        event_type=int(type), occurred_at=uow.now(), acting_id=_id_of(acting),
        subject_type=subject_type, subject_id=None if subject_id is None else str(subject_id),
        group_id=group_id, source_ip=uow.meta.source_ip, source_port=uow.meta.source_port,
        client_fingerprint=uow.meta.client_fingerprint, request_id=uow.meta.request_id,
        extra=extra or {},
    )
    uow.session.add(row)
    return row
