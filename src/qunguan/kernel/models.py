"""Kernel tables: the audit record and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime


class AuditRecord(Base):
    """One row per action (who, what, when, from where), read later by the Merkle log.

    Fields follow SA 2018 / LR-2: account, time, operation type, source address and port,
    client fingerprint; ``extra`` keeps what the action needs for evidence (e.g. the text of a
    recalled message). Rows are never updated or deleted by the application.
    """

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    event_type: Mapped[int] = mapped_column(Integer, index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acting_id: Mapped[int] = mapped_column(IdType, index=True)
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    group_id: Mapped[int | None] = mapped_column(IdType, index=True)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    source_port: Mapped[int | None] = mapped_column(Integer)
    client_fingerprint: Mapped[str | None] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_records_subject", "subject_type", "subject_id"),)


class OutboxEvent(Base):
    """An event written in the same transaction as the change it describes."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    event_type: Mapped[int] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(IdType)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000))
