"""Governance's tables: legal holds and the record of what retention purged."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime


class HoldScope(enum.StrEnum):
    """What a legal hold covers (docs/retention.md "What a hold covers")."""

    CASE = "case"  # a review item: its subject and the messages around it, reports, appeals
    GROUP = "group"  # everything said in the group
    ACCOUNT = "account"  # everything the account sent, its logins and sessions


class LegalHold(Base):
    """Suspends purging of everything its scope covers until an officer lifts it (LR-6)."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[int] = mapped_column(IdType)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lifted_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lift_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_legal_holds_scope", "scope", "scope_id"),)


class PurgedContent(Base):
    """One row whose content retention removed: what it was (kind, id), when, and the SHA-256
    of the content it held, so an audit record or a case bundle that refers to the content
    can still be checked against it."""

    __tablename__ = "purged_content"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int] = mapped_column(IdType)
    content_sha256: Mapped[str] = mapped_column(String(64))
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("kind", "row_id"),)
