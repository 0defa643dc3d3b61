"""The outbox and the after-commit bus: an event is written in the transaction of the change
it describes, published only after that transaction commits, and processed by the worker
until every handler has succeeded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select

from qunguan.kernel import outbox
from qunguan.kernel.events import Event, EventBus, EventType
from qunguan.kernel.models import AuditRecord, OutboxEvent
from qunguan.kernel.outbox import (
    MAX_ATTEMPTS,
    OutboxWorker,
    process_batch,
    register_handler,
    unregister_handler,
)
from qunguan.kernel.uow import UnitOfWork, UnitOfWorkFactory, record_audit

# Types nothing else in the suite emits or handles.
TYPE = EventType.DEMO_SEEDED
OTHER = EventType.VAULT_KEYS_ROTATED


@pytest.fixture
def uows(app: Any) -> UnitOfWorkFactory:
    factory: UnitOfWorkFactory = app.state.uows
    # Start from an empty outbox (the template database holds none, but be sure).
    uow = factory()
    uow.session.execute(delete(OutboxEvent))
    uow.commit()
    uow.close()
    return factory


@pytest.fixture
def published(app: Any) -> Iterator[list[Event]]:
    seen: list[Event] = []
    bus: EventBus = app.state.bus
    bus.subscribe(seen.append)
    yield seen
    bus.unsubscribe(seen.append)


class Recorder:
    """A handler that records what it saw and fails on request."""

    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.seen: list[Event] = []
        self.fail_on = fail_on or set()
        self.threads: set[str] = set()

    def __call__(self, uow: UnitOfWork, event: Event) -> None:
        self.seen.append(event)
        self.threads.add(threading.current_thread().name)
        if event.payload.get("name") in self.fail_on:
            raise RuntimeError(f"handler refuses {event.payload['name']}")


@pytest.fixture
def handler() -> Iterator[Recorder]:
    recorder = Recorder()
    register_handler(TYPE, recorder)
    yield recorder
    unregister_handler(TYPE, recorder)
    assert recorder not in outbox.handlers_for(TYPE)


def emit(uows: UnitOfWorkFactory, *names: str, type_: EventType = TYPE) -> None:
    uow = uows()
    try:
        for name in names:
            uow.emit(type_, group_id=7, account_ids=(1, 2), name=name)
        uow.commit()
    finally:
        uow.close()


def rows(uows: UnitOfWorkFactory) -> list[OutboxEvent]:
    uow = uows()
    try:
        return list(uow.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))
    finally:
        uow.close()


def by_name(uows: UnitOfWorkFactory) -> dict[str, OutboxEvent]:
    return {r.payload["name"]: r for r in rows(uows)}


# --- written with the change, published after commit --------------------------------------


def test_event_is_published_only_after_commit(uows: UnitOfWorkFactory,
                                              published: list[Event]) -> None:
    uow = uows()
    try:
        uow.emit(TYPE, group_id=3, account_ids=(5,), name="a")
        record_audit(uow, TYPE, acting=5, subject_type="demo")
        uow.session.flush()
        assert published == []  # not before the commit, not even after a flush
        uow.commit()
    finally:
        uow.close()
    assert len(published) == 1
    event = published[0]
    assert event.type == TYPE
    assert event.payload == {"name": "a"}
    assert event.group_id == 3
    assert event.account_ids == (5,)
    [row] = rows(uows)
    assert event.outbox_id == row.id
    assert row.event_type == int(TYPE)
    assert row.payload == {"name": "a", "account_ids": [5]}
    assert row.processed_at is None
    assert row.attempts == 0


def test_rolled_back_unit_of_work_leaves_no_row_and_publishes_nothing(
        uows: UnitOfWorkFactory, published: list[Event]) -> None:
    uow = uows()
    try:
        uow.emit(TYPE, name="never")
        record_audit(uow, TYPE, acting=1)
        uow.session.flush()
        uow.rollback()
        uow.commit()  # a later commit of the same unit publishes nothing of the rollback
    finally:
        uow.close()
    assert published == []
    assert rows(uows) == []
    check = uows()
    try:
        assert check.session.scalars(select(AuditRecord).where(
            AuditRecord.event_type == int(TYPE))).all() == []
    finally:
        check.close()


def test_failed_commit_publishes_nothing(uows: UnitOfWorkFactory,
                                         published: list[Event]) -> None:
    uow = uows()
    try:
        uow.emit(TYPE, name="doomed")
        # An audit row missing a NOT NULL column makes the commit fail.
        uow.session.add(AuditRecord(event_type=int(TYPE), occurred_at=uow.now(),
                                    acting_id=None))
        with pytest.raises(Exception):  # noqa: B017  (IntegrityError, driver-specific)
            uow.commit()
        uow.rollback()
    finally:
        uow.close()
    assert published == []
    assert rows(uows) == []


def test_failing_subscriber_does_not_stop_the_others_nor_the_commit(
        uows: UnitOfWorkFactory, app: Any, published: list[Event]) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus: EventBus = app.state.bus
    bus.subscribe(broken)
    try:
        emit(uows, "a", "b")  # does not raise: the transaction committed
    finally:
        bus.unsubscribe(broken)
    assert [e.payload["name"] for e in published] == ["a", "b"]
    assert len(rows(uows)) == 2


def emit_and_fail(uow: UnitOfWork) -> None:
    with uow.savepoint():
        uow.emit(TYPE, name="dropped")
        raise RuntimeError("inner failure")


def test_savepoint_drops_the_events_of_its_failed_block(uows: UnitOfWorkFactory,
                                                        published: list[Event]) -> None:
    uow = uows()
    try:
        uow.emit(TYPE, name="kept")
        with pytest.raises(RuntimeError, match="inner failure"):
            emit_and_fail(uow)
        with uow.savepoint():
            uow.emit(TYPE, name="kept too")
        uow.commit()
    finally:
        uow.close()
    assert [e.payload["name"] for e in published] == ["kept", "kept too"]
    assert [r.payload["name"] for r in rows(uows)] == ["kept", "kept too"]


# --- processing -----------------------------------------------------------------------------


def test_process_batch_marks_processed(uows: UnitOfWorkFactory, handler: Recorder) -> None:
    emit(uows, "a", "b")
    emit(uows, "c", type_=OTHER)  # a type with no handler is processed too
    assert process_batch(uows) == 3
    assert [e.payload for e in handler.seen] == [{"name": "a"}, {"name": "b"}]
    assert handler.seen[0].account_ids == (1, 2)
    assert handler.seen[0].group_id == 7
    assert handler.seen[0].outbox_id == rows(uows)[0].id
    for row in rows(uows):
        assert row.processed_at is not None
        assert row.attempts == 1
        assert row.last_error is None
    assert process_batch(uows) == 0  # nothing is processed twice
    assert len(handler.seen) == 2


def test_process_batch_respects_the_limit(uows: UnitOfWorkFactory, handler: Recorder) -> None:
    emit(uows, *[f"e{i}" for i in range(5)])
    assert process_batch(uows, limit=2) == 2
    assert [e.payload["name"] for e in handler.seen] == ["e0", "e1"]  # oldest first
    assert process_batch(uows, limit=10) == 3


def test_failing_handler_leaves_row_for_retry_and_others_process(
        uows: UnitOfWorkFactory, handler: Recorder) -> None:
    handler.fail_on = {"bad"}
    emit(uows, "good1", "bad", "good2")
    assert process_batch(uows) == 2
    state = by_name(uows)
    assert state["good1"].processed_at is not None
    assert state["good2"].processed_at is not None
    bad = state["bad"]
    assert bad.processed_at is None
    assert bad.attempts == 1
    assert bad.last_error is not None
    assert "handler refuses bad" in bad.last_error

    assert process_batch(uows) == 0  # still failing: attempts grow, nothing else reruns
    assert by_name(uows)["bad"].attempts == 2
    assert [e.payload["name"] for e in handler.seen].count("good1") == 1

    handler.fail_on = set()  # the bug is fixed: the next pass catches up
    assert process_batch(uows) == 1
    bad = by_name(uows)["bad"]
    assert bad.processed_at is not None
    assert bad.attempts == 3


def test_failing_handler_writes_and_events_are_rolled_back(uows: UnitOfWorkFactory,
                                                           published: list[Event]) -> None:
    def writes_then_fails(uow: UnitOfWork, event: Event) -> None:
        record_audit(uow, OTHER, acting=1, subject_type="from_handler",
                     subject_id=event.payload["name"])
        uow.emit(OTHER, name=f"follow-up of {event.payload['name']}")
        uow.session.flush()
        if event.payload["name"] == "bad":
            raise RuntimeError("after writing")

    register_handler(TYPE, writes_then_fails)
    try:
        emit(uows, "good", "bad")
        published.clear()
        assert process_batch(uows) == 1
    finally:
        unregister_handler(TYPE, writes_then_fails)
    uow = uows()
    try:
        subjects = uow.session.scalars(select(AuditRecord.subject_id).where(
            AuditRecord.subject_type == "from_handler")).all()
    finally:
        uow.close()
    assert subjects == ["good"]
    names = sorted(r.payload["name"] for r in rows(uows))
    assert names == ["bad", "follow-up of good", "good"]
    assert [e.payload["name"] for e in published] == ["follow-up of good"]


def test_row_of_unknown_type_does_not_block_the_others(uows: UnitOfWorkFactory,
                                                       handler: Recorder) -> None:
    """A row written by a newer build (or of a retired type) fails alone."""
    uow = uows()
    try:
        uow.session.add(OutboxEvent(event_type=99_999, payload={"name": "alien"},
                                    created_at=uow.now(), attempts=0))
        uow.commit()
    finally:
        uow.close()
    emit(uows, "after")
    assert process_batch(uows) == 1
    state = by_name(uows)
    assert state["after"].processed_at is not None
    assert state["alien"].processed_at is None
    assert state["alien"].attempts == 1
    assert "99999" in (state["alien"].last_error or "")


def test_rows_past_max_attempts_are_left_alone(uows: UnitOfWorkFactory,
                                               handler: Recorder) -> None:
    emit(uows, "tired")
    uow = uows()
    try:
        row = uow.session.scalars(select(OutboxEvent)).one()
        row.attempts = MAX_ATTEMPTS
        uow.commit()
    finally:
        uow.close()
    assert process_batch(uows) == 0
    assert handler.seen == []
    assert by_name(uows)["tired"].attempts == MAX_ATTEMPTS


def test_locked_rows_are_skipped_on_postgresql(uows: UnitOfWorkFactory, handler: Recorder,
                                               backend: str) -> None:
    """Several workers share the outbox: a row another worker holds is skipped, not waited
    for and not processed twice."""
    if backend != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serialises writers")
    emit(uows, "held", "free")
    other = uows()
    try:
        held = other.session.scalars(select(OutboxEvent).where(OutboxEvent.id == min(
            r.id for r in rows(uows))).with_for_update()).one()
        assert held.payload["name"] == "held"
        assert process_batch(uows) == 1
        assert [e.payload["name"] for e in handler.seen] == ["free"]
    finally:
        other.rollback()
        other.close()
    assert process_batch(uows) == 1
    assert [e.payload["name"] for e in handler.seen] == ["free", "held"]


# --- the worker -----------------------------------------------------------------------------


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_worker_processes_rows_until_stopped(uows: UnitOfWorkFactory, handler: Recorder) -> None:
    emit(uows, "before start")
    worker = OutboxWorker(uows, poll_seconds=0.02)
    worker.start()
    try:
        assert _wait_for(lambda: len(handler.seen) == 1)
        emit(uows, "while running")  # picked up by a later poll
        assert _wait_for(lambda: len(handler.seen) == 2)
        assert _wait_for(lambda: all(r.processed_at is not None for r in rows(uows)))
    finally:
        worker.stop()
    assert handler.threads == {"qunguan-outbox"}
    assert worker._thread is not None
    assert not worker._thread.is_alive()
    emit(uows, "after stop")
    time.sleep(0.1)
    assert [e.payload["name"] for e in handler.seen] == ["before start", "while running"]
    assert by_name(uows)["after stop"].processed_at is None


def test_worker_can_be_restarted(uows: UnitOfWorkFactory, handler: Recorder) -> None:
    worker = OutboxWorker(uows, poll_seconds=0.02)
    worker.start()
    worker.stop()
    emit(uows, "after restart")
    worker.start()
    try:
        assert _wait_for(lambda: len(handler.seen) == 1)
    finally:
        worker.stop()


def test_worker_survives_a_failing_pass(uows: UnitOfWorkFactory, handler: Recorder,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that fails as a whole (the database away) is logged; the next one runs."""
    calls = {"n": 0}
    real = outbox.process_batch

    def flaky(factory: UnitOfWorkFactory, limit: int = 100) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database away")
        return real(factory, limit)

    monkeypatch.setattr(outbox, "process_batch", flaky)
    emit(uows, "eventually")
    worker = OutboxWorker(uows, poll_seconds=0.02)
    worker.start()
    try:
        assert _wait_for(lambda: len(handler.seen) == 1)
    finally:
        worker.stop()
    assert calls["n"] >= 2


def test_stop_without_start() -> None:
    worker = OutboxWorker(lambda: None, poll_seconds=1)  # type: ignore[arg-type,return-value]
    worker.stop()  # nothing to join: returns at once
