"""Rumours' tables: the debunk bank and the record of corrections pushed to members (CR-8)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy import text as sql_text  # DebunkPhrasing has a column named "text"
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


class PhrasingSource(enum.StrEnum):
    OFFICER = "officer"  # typed by a curator
    REVIEW = "review"  # a reviewer confirmed that a message repeats the claim
    IMPORT = "import"  # a row of a bank import


class DebunkPhrasing(Base):
    """Another form of an entry's claim as it circulates ("川皇" where the claim says
    特朗普), matched like the claim. Adding or retiring one grows the entry's ``version``, so
    every process's bank picks it up. ``message_id`` names the message a reviewer confirmed
    (no foreign key: the message may be purged by retention while the phrasing stays)."""

    __tablename__ = "debunk_phrasings"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    debunk_id: Mapped[int] = mapped_column(ForeignKey("debunk_entries.id"))
    text: Mapped[str] = mapped_column(Text)
    text_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[int | None] = mapped_column(IdType)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    retire_reason: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_debunk_phrasings_debunk_id", "debunk_id", "id"),
        Index("uq_debunk_phrasings_active_text", "debunk_id", "text_key", unique=True,
              sqlite_where=sql_text("retired_at IS NULL"),
              postgresql_where=sql_text("retired_at IS NULL")),
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


# --- content clusters and the circuit breaker (CR-6, issue 4 parts 7-8) ---------------------


class BreakerState(enum.StrEnum):
    NONE = "none"  # spreading slowly, or not yet looked at
    TRIPPED = "tripped"  # "frequently forwarded": marked, and forwards are limited
    LIFTED = "lifted"  # an officer lifted it: the automation does not trip it again


class ContentCluster(Base):
    """Every copy of one piece of content: joined by forward provenance, the same normalised
    fingerprint, or a near-copy (docs/rumors.md "Cascades"). The counters are kept by the
    outbox handler that assigns messages, under a lock of this row."""

    __tablename__ = "content_clusters"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    first_message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    first_group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    groups_reached: Mapped[int] = mapped_column(Integer, default=0)
    members_exposed: Mapped[int] = mapped_column(Integer, default=0)
    max_hop: Mapped[int] = mapped_column(Integer, default=0)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    breaker_state: Mapped[str] = mapped_column(String(16), default=BreakerState.NONE)
    breaker_max_targets: Mapped[int | None] = mapped_column(Integer)
    breaker_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A debunk with verdict "true" the cluster matched when it would have tripped.
    exempt_debunk_id: Mapped[int | None] = mapped_column(ForeignKey("debunk_entries.id"))

    __table_args__ = (Index("ix_content_clusters_reach", "groups_reached", "id"),)


class ClusterMember(Base):
    """One delivered message of a cluster: its place in the tree of forwards (``parent_id``)
    or inferred copies (``copy_of_id``), and whether it brought the cluster to a new group."""

    __tablename__ = "cluster_members"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("content_clusters.id"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    parent_id: Mapped[int | None] = mapped_column(IdType)
    copy_of_id: Mapped[int | None] = mapped_column(IdType)
    hop: Mapped[int] = mapped_column(Integer, default=0)
    new_group: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the message reached its group: its creation, or its release for a held message.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_cluster_members_cluster_group", "cluster_id", "group_id"),)


class ClusterFingerprint(Base):
    """The exact join, in the database so that every process agrees: one row per normalised
    fingerprint, naming its cluster and the first message that carried it. No text is kept
    here (a recall must leave the text only in the audit record): the near-copy index reads
    it from the message."""

    __tablename__ = "cluster_fingerprints"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("content_clusters.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
