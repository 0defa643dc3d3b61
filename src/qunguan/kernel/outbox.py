"""The outbox worker: runs the post-commit work that must not be lost.

Handlers register per event type. A row is marked processed once every handler for it has
succeeded; a failing handler leaves it for the next pass (with the error kept), so work
survives a crash. On PostgreSQL several workers claim rows with ``FOR UPDATE SKIP LOCKED``;
the embedded default runs one worker thread in the server process.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import select

from qunguan.kernel.events import Event, EventType
from qunguan.kernel.models import OutboxEvent
from qunguan.kernel.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, Event], None]

_HANDLERS: dict[EventType, list[Handler]] = defaultdict(list)

MAX_ATTEMPTS = 10


def register_handler(type: EventType, handler: Handler) -> None:
    _HANDLERS[type].append(handler)


def unregister_handler(type: EventType, handler: Handler) -> None:
    """Remove a handler registered with ``register_handler`` (tests, plug-in unloading)."""
    _HANDLERS[type].remove(handler)


def handlers_for(type: EventType) -> list[Handler]:
    return list(_HANDLERS.get(type, ()))


def process_batch(uows: UnitOfWorkFactory, limit: int = 100) -> int:
    """Process up to ``limit`` pending events; return how many were marked processed."""
    uow = uows()
    done = 0
    try:
        stmt = (select(OutboxEvent).where(OutboxEvent.processed_at.is_(None),
                                          OutboxEvent.attempts < MAX_ATTEMPTS)
                .order_by(OutboxEvent.id).limit(limit))
        if uow.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(uow.session.scalars(stmt))
        for row in rows:
            try:
                # Inside the try: a row this build cannot read (a type it does not know, a
                # payload of the wrong shape) fails alone instead of blocking every row after.
                payload = dict(row.payload)
                account_ids = tuple(payload.pop("account_ids", ()))
                event = Event(EventType(row.event_type), payload, row.group_id, account_ids,
                              row.id)
                with uow.savepoint():
                    for handler in handlers_for(event.type):
                        handler(uow, event)
            except Exception as exc:  # a handler bug must not stop the others
                log.exception("outbox handler failed for event %s", row.id)
                row.attempts += 1
                row.last_error = repr(exc)[:2000]
                continue
            row.attempts += 1
            row.processed_at = uow.now()
            done += 1
        uow.commit()
    finally:
        uow.close()
    return done


class PollingWorker:
    """A background thread that runs ``one_pass(uows)`` every ``poll_seconds``, and again at
    once while a pass reports work done (more may wait). A failing pass is logged and retried
    at the next poll; every pass owns its transactions, so a crash loses nothing."""

    def __init__(self, name: str, one_pass: Callable[[UnitOfWorkFactory], int],
                 uows: UnitOfWorkFactory, poll_seconds: float) -> None:
        self.name = name
        self.one_pass = one_pass
        self.uows = uows
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()  # a stopped worker may be started again
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.one_pass(self.uows) and not self._stop.is_set():
                    continue
            except Exception:
                log.exception("%s pass failed", self.name)
            self._stop.wait(self.poll_seconds)


class OutboxWorker(PollingWorker):
    """Polls the outbox (embedded deployments)."""

    def __init__(self, uows: UnitOfWorkFactory, poll_seconds: float) -> None:
        super().__init__("qunguan-outbox", process_batch, uows, poll_seconds)
