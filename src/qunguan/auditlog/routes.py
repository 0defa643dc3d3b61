"""Audit log API: officers read the audit records (CN-GIP Art. 11, LR-1, LR-2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qunguan.auditlog import queries
from qunguan.auditlog.schemas import AuditPage, AuditRecordPublic
from qunguan.identity import CurrentAccount
from qunguan.kernel.events import EventType
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.web import UowDep

router = APIRouter(prefix="/api", tags=["audit log"])

OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/officer/audit-records", response_model=AuditPage)
def list_audit_records(uow: UowDep, me: CurrentAccount,
                       type: Annotated[str | None, Query(max_length=64)] = None,
                       group_id: OptionalId = None, acting_id: OptionalId = None,
                       before_id: OptionalId = None,
                       limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 100) -> AuditPage:
    rows, next_before = queries.list_records(uow, viewer=me, event_type=type,
                                             group_id=group_id, acting_id=acting_id,
                                             before_id=before_id, limit=limit)
    return AuditPage(items=[AuditRecordPublic(
        id=r.id, type=EventType(r.event_type).name.lower(), type_number=r.event_type,
        occurred_at=r.occurred_at, acting_id=r.acting_id, subject_type=r.subject_type,
        subject_id=r.subject_id, group_id=r.group_id, source_ip=r.source_ip,
        source_port=r.source_port, client_fingerprint=r.client_fingerprint,
        request_id=r.request_id, extra=r.extra) for r in rows], next_before_id=next_before)
