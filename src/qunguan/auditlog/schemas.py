"""API shapes of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditRecordPublic(BaseModel):
    id: int
    type: str
    type_number: int
    occurred_at: datetime
    acting_id: int
    subject_type: str | None
    subject_id: str | None
    group_id: int | None
    source_ip: str | None
    source_port: int | None
    client_fingerprint: str | None
    request_id: str | None
    extra: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditRecordPublic]
    next_before_id: int | None
