"""Reads of the audit records, for officers."""

from __future__ import annotations

from sqlalchemy import select

from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.db import newest_first
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.uow import UnitOfWork

MAX_PAGE = 500


def list_records(uow: UnitOfWork, *, viewer: Account, event_type: str | None = None,
                 group_id: int | None = None, acting_id: int | None = None,
                 before_id: int | None = None,
                 limit: int = 100) -> tuple[list[AuditRecord], int | None]:
    """Newest first, filtered; returns the page and the ``before_id`` of the next one."""
    identity_queries.require_officer(viewer)
    stmt = select(AuditRecord)
    if event_type is not None:
        try:
            kind = EventType[event_type.upper()]
        except KeyError:
            raise QunguanError("invalid_request", "Unknown event type.", fields=["type"],
                               known=[e.name.lower() for e in EventType]) from None
        stmt = stmt.where(AuditRecord.event_type == int(kind))
    if group_id is not None:
        stmt = stmt.where(AuditRecord.group_id == group_id)
    if acting_id is not None:
        stmt = stmt.where(AuditRecord.acting_id == acting_id)
    return newest_first(uow.session, stmt, AuditRecord.id, before_id=before_id, limit=limit,
                        max_page=MAX_PAGE)
