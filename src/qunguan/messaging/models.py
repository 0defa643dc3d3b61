"""Messages with provenance (CR-5, CR-6), mentions and exact forward counters."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime


class MessageStatus(enum.StrEnum):
    DELIVERED = "delivered"
    HELD = "held"  # kept for review before delivery (screening verdict "hold")


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # None once recalled: the text then lives only in the audit record of the recall.
    text: Mapped[str | None] = mapped_column(Text)
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    # Provenance: the first message of the chain, the one this was forwarded from, hops.
    origin_id: Mapped[int | None] = mapped_column(IdType, index=True)
    parent_id: Mapped[int | None] = mapped_column(IdType)
    hop: Mapped[int] = mapped_column(Integer, default=0)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.DELIVERED)
    verdict: Mapped[str] = mapped_column(String(16), default="allow")
    labels: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_messages_group_id_id", "group_id", "id"),)


class Mention(Base):
    __tablename__ = "mentions"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True,
                                            index=True)


class ForwardCount(Base):
    """Exact forward counter per origin message (CR-5). Written only by the server, with an
    atomic increment in the forwarding transaction; no route can set it."""

    __tablename__ = "forward_counts"

    origin_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    forwards: Mapped[int] = mapped_column(Integer, default=0)


class ReadMarker(Base):
    """How far a member has read in a group: the newest message id they have seen. Private
    reading state for unread counts, not conduct: no audit record, no event (docs/web.md)."""

    __tablename__ = "read_markers"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    last_read_id: Mapped[int] = mapped_column(IdType, default=0)
