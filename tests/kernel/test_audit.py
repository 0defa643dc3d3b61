"""record_audit keeps who, what, when and from where (SA 2018, LR-2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.uow import RequestMeta, UnitOfWorkFactory, record_audit
from tests.conftest import Api, audit_records


def _records(uows: UnitOfWorkFactory, type_: EventType) -> list[AuditRecord]:
    uow = uows()
    try:
        return list(uow.session.scalars(select(AuditRecord).where(
            AuditRecord.event_type == int(type_)).order_by(AuditRecord.id)))
    finally:
        uow.close()


class Thing:
    id = 42


def test_record_audit_stores_request_meta(app: Any, clock: FixedClock) -> None:
    uows: UnitOfWorkFactory = app.state.uows
    meta = RequestMeta(source_ip="203.0.113.7", source_port=54321, request_id="req-1",
                       client_fingerprint="fp-abc")
    uow = uows(meta)
    try:
        record_audit(uow, EventType.DEMO_SEEDED, acting=Thing(), subject_type="demo",
                     subject_id=99, group_id=5, extra={"groups": 3})
        uow.commit()
    finally:
        uow.close()
    [row] = _records(uows, EventType.DEMO_SEEDED)
    assert row.source_ip == "203.0.113.7"
    assert row.source_port == 54321
    assert row.request_id == "req-1"
    assert row.client_fingerprint == "fp-abc"
    assert row.acting_id == 42
    assert row.subject_type == "demo"
    assert row.subject_id == "99"  # kept as text: subjects are not all integers
    assert row.group_id == 5
    assert row.extra == {"groups": 3}
    assert row.occurred_at == clock.now()
    assert row.occurred_at.tzinfo is not None


def test_record_audit_without_meta(app: Any) -> None:
    uows: UnitOfWorkFactory = app.state.uows
    uow = uows()
    try:
        record_audit(uow, EventType.DEMO_SEEDED, acting=7)
        uow.commit()
    finally:
        uow.close()
    [row] = _records(uows, EventType.DEMO_SEEDED)
    assert (row.source_ip, row.source_port, row.request_id) == (None, None, None)
    assert row.acting_id == 7
    assert row.subject_id is None
    assert row.extra == {}


def test_request_meta_from_http(api: Api, app: Any) -> None:
    r = api.post("/api/accounts", headers={"X-Request-Id": "trace-7",
                                           "X-Client-Fingerprint": "f" * 500},
                 json={"phone": "13712345678", "password": "pass-word-1",
                       "display_name": "来源测试"})
    assert r.status_code == 201, r.text
    row = audit_records(app, EventType.ACCOUNT_REGISTERED)[-1]
    assert row.source_ip == "testclient"  # the TestClient's peer
    assert row.source_port == 50000
    assert row.request_id == "trace-7"
    assert row.client_fingerprint == "f" * 128  # capped to the column


def test_request_id_is_generated_when_absent(api: Api, app: Any) -> None:
    r = api.post("/api/accounts", json={"phone": "13712345679", "password": "pass-word-1",
                                        "display_name": "来源测试"})
    assert r.status_code == 201, r.text
    row = audit_records(app, EventType.ACCOUNT_REGISTERED)[-1]
    assert row.request_id
    assert row.client_fingerprint is None


def test_trusted_proxy_header(api: Api, app: Any) -> None:
    """Behind a trusted proxy, the address is the one the proxy saw (the last entry it
    appended), not what the client wrote in front of it; the port stays the socket's."""
    app.state.uows.settings.trusted_proxy_header = "X-Forwarded-For"
    r = api.post("/api/accounts", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.23"},
                 json={"phone": "13712345670", "password": "pass-word-1",
                       "display_name": "代理测试"})
    assert r.status_code == 201, r.text
    row = audit_records(app, EventType.ACCOUNT_REGISTERED)[-1]
    assert row.source_ip == "198.51.100.23"


def test_proxy_header_is_ignored_unless_trusted(api: Api, app: Any) -> None:
    assert app.state.uows.settings.trusted_proxy_header is None
    r = api.post("/api/accounts", headers={"X-Forwarded-For": "6.6.6.6"},
                 json={"phone": "13712345671", "password": "pass-word-1",
                       "display_name": "伪造来源"})
    assert r.status_code == 201, r.text
    assert audit_records(app, EventType.ACCOUNT_REGISTERED)[-1].source_ip == "testclient"
