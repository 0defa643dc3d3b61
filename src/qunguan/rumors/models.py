"""Rumours' tables: the debunk bank and the record of corrections pushed to members (CR-8)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime


class DebunkStatus(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"  # kept for the record and the cards already shown; matches nothing


class DebunkEntry(Base):
    """One debunked (or checked) claim. ``version`` grows by one with every change, so each
    process notices a change elsewhere from ``count(*)`` and ``sum(version)`` alone, and a card
    names the version it showed. ``claim_key`` is the fingerprint of the normalised claim: two
    active entries never share one (duplicates are refused or reported on import)."""

    __tablename__ = "debunk_entries"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    claim: Mapped[str] = mapped_column(Text)
    claim_key: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    refutation: Mapped[str] = mapped_column(Text)
    publisher: Mapped[str] = mapped_column(String(200))
    source_url: Mapped[str | None] = mapped_column(String(500))
    published_on: Mapped[date | None] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DebunkStatus.ACTIVE)
    version: Mapped[int] = mapped_column(Integer, default=1)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))

    __table_args__ = (
        Index("ix_debunk_entries_status_id", "status", "id"),
        # Two officers adding the same claim at once: the second insert fails here (and
        # answers debunk_duplicate) instead of leaving two active entries for one claim.
        Index("uq_debunk_entries_active_claim", "claim_key", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )


class CorrectionNotice(Base):
    """A member was told about a debunk (CR-8). One row per member and debunk, written in the
    same transaction as the notification event: a retried or repeated sweep finds the row and
    never tells the member twice."""

    __tablename__ = "correction_notices"

    debunk_id: Mapped[int] = mapped_column(ForeignKey("debunk_entries.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True,
                                            index=True)
    debunk_version: Mapped[int] = mapped_column(Integer)
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime)
