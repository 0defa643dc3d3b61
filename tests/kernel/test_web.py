"""The request's unit of work: committed when the route returns, rolled back on any error
unless the error asks to keep its writes; events published only for what was committed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import Event, EventType
from qunguan.kernel.models import AuditRecord, OutboxEvent
from qunguan.kernel.uow import UnitOfWork, UnitOfWorkFactory, record_audit
from qunguan.kernel.web import UowDep, install_error_handlers

TYPE = EventType.DEMO_SEEDED


def _write(uow: UnitOfWork, name: str) -> None:
    record_audit(uow, TYPE, acting=1, subject_type="web_test", subject_id=name)
    uow.emit(TYPE, name=name)
    uow.session.flush()


@pytest.fixture
def kernel_app(app: Any) -> FastAPI:
    """A bare app on the real unit-of-work factory, with routes that write then fail."""
    bare = FastAPI()
    bare.state.uows = app.state.uows
    install_error_handlers(bare)

    @bare.post("/ok")
    def ok(uow: UowDep) -> dict[str, str]:
        _write(uow, "ok")
        return {"status": "ok"}

    @bare.post("/refused")
    def refused(uow: UowDep) -> None:
        _write(uow, "refused")
        raise QunguanError("conflict", "No.", why="test")

    @bare.post("/refused-but-recorded")
    def recorded(uow: UowDep) -> None:
        _write(uow, "recorded")
        raise QunguanError("forbidden", "No, and it is on the record.").keep_writes()

    @bare.post("/crash")
    def crash(uow: UowDep) -> None:
        _write(uow, "crash")
        raise RuntimeError("a bug")

    return bare


@pytest.fixture
def published(app: Any) -> Iterator[list[Event]]:
    seen: list[Event] = []
    app.state.bus.subscribe(seen.append)
    yield seen
    app.state.bus.unsubscribe(seen.append)


def _written(uows: UnitOfWorkFactory) -> tuple[list[str], list[str]]:
    uow = uows()
    try:
        audits = list(uow.session.scalars(select(AuditRecord.subject_id).where(
            AuditRecord.subject_type == "web_test").order_by(AuditRecord.id)))
        events = [r.payload["name"] for r in uow.session.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type == int(TYPE)).order_by(OutboxEvent.id))]
        return [str(a) for a in audits], events
    finally:
        uow.close()


def test_success_commits_and_publishes(kernel_app: FastAPI, app: Any,
                                       published: list[Event]) -> None:
    with TestClient(kernel_app) as client:
        assert client.post("/ok").json() == {"status": "ok"}
    assert _written(app.state.uows) == (["ok"], ["ok"])
    assert [e.payload["name"] for e in published] == ["ok"]


def test_error_rolls_back_everything(kernel_app: FastAPI, app: Any,
                                     published: list[Event]) -> None:
    with TestClient(kernel_app) as client:
        r = client.post("/refused")
    assert r.status_code == 409
    assert r.json() == {"error": {"code": "conflict", "message": "No.",
                                  "details": {"why": "test"}}}
    assert _written(app.state.uows) == ([], [])
    assert published == []


def test_error_that_keeps_its_writes(kernel_app: FastAPI, app: Any,
                                     published: list[Event]) -> None:
    with TestClient(kernel_app) as client:
        r = client.post("/refused-but-recorded")
    assert r.status_code == 403
    assert _written(app.state.uows) == (["recorded"], ["recorded"])
    assert [e.payload["name"] for e in published] == ["recorded"]


def test_crash_rolls_back_and_is_a_500(kernel_app: FastAPI, app: Any,
                                       published: list[Event]) -> None:
    with TestClient(kernel_app, raise_server_exceptions=False) as client:
        r = client.post("/crash")
    assert r.status_code == 500
    assert _written(app.state.uows) == ([], [])
    assert published == []


def test_no_connection_is_left_checked_out(kernel_app: FastAPI, app: Any) -> None:
    """Every path returns its connection to the pool (a leak would exhaust it under load)."""
    pool = app.state.engine.pool
    with TestClient(kernel_app, raise_server_exceptions=False) as client:
        for _ in range(3):
            for path in ("/ok", "/refused", "/refused-but-recorded", "/crash"):
                client.post(path)
    assert pool.checkedout() == 0



def test_websocket_tokens_are_redacted_from_server_logs() -> None:
    import logging

    from qunguan.kernel.web import RedactTokens

    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               '%s - "WebSocket %s" [accepted]', ("127.0.0.1:5000",
                                                                  "/api/ws?token=abc.DEF-123"),
                               None)
    assert RedactTokens().filter(record)
    assert "abc.DEF-123" not in record.getMessage()
    assert "token=[redacted]" in record.getMessage()


def test_token_redaction_handles_mapping_arguments() -> None:
    import logging

    from qunguan.kernel.web import RedactTokens

    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               "%(path)s accepted", None, None)
    record.args = {"path": "/api/ws?token=secret-1"}
    assert RedactTokens().filter(record)
    assert record.getMessage() == "/api/ws?token=[redacted] accepted"
