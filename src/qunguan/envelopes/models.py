"""Tables of red envelopes: ledger accounts, transactions and postings; envelopes and claims;
the sandbox payment provider's own records (kept apart so reconciliation compares two
independent books)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime


class AccountKind(enum.StrEnum):
    WALLET = "wallet"  # a member's balance, mirrored from the provider
    ESCROW = "escrow"  # an envelope's undrawn remainder
    CLEARING = "clearing"  # a provider's side: money entering or leaving the service


class Split(enum.StrEnum):
    FIXED = "fixed"  # every part the same amount
    LUCKY = "lucky"  # 拼手气: double-average draws at claim time


class EnvelopeStatus(enum.StrEnum):
    HELD = "held"  # funded, waiting for a reviewer under an election's hold policy (PAY-3)
    OPEN = "open"
    CLAIMED = "claimed"  # every part taken
    REFUNDED = "refunded"  # expired; the remainder went back to the sender
    REFUSED = "refused"  # held, then refused by a reviewer; the total went back


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        # Only a provider's clearing account may go below zero: it stands for money that
        # came in from outside. Everything else is enforced here as well as in ledger.post.
        CheckConstraint("balance >= 0 OR allow_negative", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # "wallet:12", "escrow:5"
    kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerTransaction(Base):
    """One movement of money; its postings sum to zero. Never updated or deleted."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    acting_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerPosting(Base):
    __tablename__ = "ledger_postings"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(IdType, ForeignKey("ledger_transactions.id"),
                                                index=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("ledger_accounts.id"),
                                            index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # signed fen: credit > 0, debit < 0


class Envelope(Base):
    __tablename__ = "envelopes"
    __table_args__ = (
        CheckConstraint("remaining_parts >= 0", name="remaining_parts_not_negative"),
        CheckConstraint("remaining_fen >= 0", name="remaining_fen_not_negative"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    group_id: Mapped[int] = mapped_column(IdType, ForeignKey("groups.id"), index=True)
    sender_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("accounts.id"))
    split: Mapped[str] = mapped_column(String(16))
    total_fen: Mapped[int] = mapped_column(BigInteger)
    parts: Mapped[int] = mapped_column(Integer)
    remaining_parts: Mapped[int] = mapped_column(Integer)
    remaining_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The election whose policy applied when it was sent (disclose or hold), and why it was
    # held; the election committee reads these in the PAY-5 export.
    election_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("election_periods.id"),
                                                    index=True)
    election_policy: Mapped[str | None] = mapped_column(String(16))
    hold_reason: Mapped[str | None] = mapped_column(String(500))  # English (API, audit)
    # The same reason in Chinese, for the sender's page in zh_CN (empty on envelopes held
    # before it was kept: the page shows ``hold_reason`` then).
    hold_reason_zh: Mapped[str | None] = mapped_column(String(500))
    # The group's size when it was sent: the detectors' shares are of the members then, not
    # of those who joined or left since (empty on envelopes sent before it was kept).
    group_member_count: Mapped[int | None] = mapped_column(Integer)


class EnvelopeClaim(Base):
    __tablename__ = "envelope_claims"
    __table_args__ = (UniqueConstraint("envelope_id", "account_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    envelope_id: Mapped[int] = mapped_column(IdType, ForeignKey("envelopes.id"))
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SandboxPayment(Base):
    """The sandbox provider's own book: what a real provider would report in its statement."""

    __tablename__ = "sandbox_payments"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    payer_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))  # created, captured, refunded
    reference: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EnvelopeAlert(Base):
    """A vote-buying detector's finding (PAY-6), with the evidence a reviewer needs. One per
    pattern, sender, group and election (``dedup_key``), however often it fires again, and
    none for envelopes that a stored alert of the same pattern, sender and group (another
    election's) already names all of."""

    __tablename__ = "envelope_alerts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    pattern: Mapped[str] = mapped_column(String(32), index=True)
    sender_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id"), index=True)
    group_id: Mapped[int] = mapped_column(IdType, ForeignKey("groups.id"), index=True)
    election_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("election_periods.id"))
    envelope_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    explanation: Mapped[str] = mapped_column(String(2000))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_envelope_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class EnvelopeFestivalTotal(Base):
    """What one member sent in one group at one festival season ("spring:2027"): the
    vote-buying detectors' memory of festival habits (a generous festival giver against a
    festival cover), a few rows per member and year, kept while the raw envelopes are read
    only over the last ``history_days``. Added to at each send on a festival day; a refused
    envelope is taken back out."""

    __tablename__ = "envelope_festival_totals"
    __table_args__ = (UniqueConstraint("sender_id", "group_id", "season"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    sender_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id"))
    group_id: Mapped[int] = mapped_column(IdType, ForeignKey("groups.id"))
    season: Mapped[str] = mapped_column(String(24))
    total_fen: Mapped[int] = mapped_column(BigInteger)
    envelopes: Mapped[int] = mapped_column(Integer)


class EnvelopeLimit(Base):
    """An officer's per-group red-envelope limit: the most one envelope may hold in the group,
    in fen, with who set it and why. At most one per group; clearing it deletes the row (the
    audit records ``ENVELOPE_LIMIT_SET`` and ``ENVELOPE_LIMIT_CLEARED`` keep the history).
    It only tightens: never above the group's limit without it (``queries.envelope_limits``)."""

    __tablename__ = "envelope_limits"
    __table_args__ = (CheckConstraint("max_fen >= 1", name="max_fen_positive"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    group_id: Mapped[int] = mapped_column(IdType, ForeignKey("groups.id"), unique=True)
    max_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(2000))
    set_by: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id"))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
