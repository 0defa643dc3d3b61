"""Screening's tables: policy pack versions and the record of every rule that fired."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime


class PolicyPack(Base):
    """A loaded policy pack: its files verbatim, so any past verdict can be explained from
    the exact rules that produced it. Exactly one version is active once any was loaded;
    before that the shipped default pack applies (version 0)."""

    __tablename__ = "policy_packs"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    digest: Mapped[str] = mapped_column(String(64))
    files: Mapped[dict[str, Any]] = mapped_column(JSON)
    rule_count: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    loaded_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))


class ScreeningHit(Base):
    """One rule that fired on one text, in enforce or shadow mode, written in the same
    transaction as the message (``message_id`` is None for a blocked attempt). ``signals``
    holds the detectors' evidence: spans, counts, lexicon terms, never personal data."""

    __tablename__ = "screening_hits"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    pack_version: Mapped[int] = mapped_column(Integer)
    rule_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(8))
    severity: Mapped[int] = mapped_column(Integer)
    detector: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(4))
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_screening_hits_rule_id_id", "rule_id", "id"),)
