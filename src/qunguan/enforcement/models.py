"""Enforcement's tables: reports, the review queue, sanctions, credit, statements, appeals.

Every table is append-mostly: a decision, a lift or an overturn fills in columns of its row
and writes an audit record; nothing is deleted, so the history of a case can be replayed.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime


class SubjectType(enum.StrEnum):
    MESSAGE = "message"
    ACCOUNT = "account"
    GROUP = "group"
    ENVELOPE = "envelope"  # a red envelope held by an election's policy (envelopes/)


class ReportReason(enum.StrEnum):
    """Why a member reports something (CR-3). Conduct only: no reason about opinions."""

    RUMOR = "rumor"  # false or unverified information
    PERSONAL_DATA = "personal_data"  # someone's ID number, phone, bank card posted
    CONFIDENTIAL = "confidential"  # classified or internal material
    FRAUD = "fraud"  # scam, fraud or gambling solicitation
    HARASSMENT = "harassment"  # abuse, threats, insults
    VOTE_BUYING = "vote_buying"  # red envelopes or gifts tied to an election
    SPAM = "spam"  # flooding, advertising
    IMPERSONATION = "impersonation"
    OTHER = "other"


class ReportStatus(enum.StrEnum):
    OPEN = "open"  # received, waiting for a review decision
    DECIDED = "decided"  # the review item was decided; outcome says how


class Report(Base):
    """A member's report of a message, a member or a group (CR-2, CR-3, AT-3)."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(IdType)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    good_faith: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.OPEN)
    review_item_id: Mapped[int | None] = mapped_column(IdType, index=True)
    # Filled when decided: the decision in words the reporter reads (AT-3).
    outcome: Mapped[str | None] = mapped_column(String(32))
    outcome_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_reports_subject", "subject_type", "subject_id"),)


class ItemSource(enum.StrEnum):
    HELD = "held"  # a message held by the pre-send gate
    SCREENING = "screening"  # a post-send rule fired
    REPORT = "report"  # one or more member reports
    SAMPLE = "sample"  # quality-control sample of allowed traffic


class ItemStatus(enum.StrEnum):
    OPEN = "open"
    DECIDED = "decided"


class Decision(enum.StrEnum):
    DISMISS = "dismiss"  # nothing wrong: a held message is delivered, reports are not upheld
    REMOVE = "remove"  # the message is removed (a held one is never delivered)
    SANCTION = "sanction"  # remove if a message, and impose a sanction
    # The message repeats a debunked claim: it (and its copies) gets the card, its text
    # becomes a phrasing of the debunk. Information, not a sanction: it stays up.
    LABEL = "label"


class ReviewItem(Base):
    """One thing for an officer to decide. Claimed exclusively; a claim times out."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(IdType)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), index=True)
    # Higher is more urgent; the queue orders by severity, then age.
    severity: Mapped[int] = mapped_column(Integer, default=1)
    # The rules (or report reasons) that brought it here, with automation flags.
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.OPEN)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    decision: Mapped[str | None] = mapped_column(String(16))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_review_items_queue", "status", "severity", "created_at"),
        Index("ix_review_items_subject", "subject_type", "subject_id"),
        # One open item per subject, even when two findings or reports race to open it on
        # PostgreSQL: the loser's insert fails and it joins the winner's item.
        Index("uq_review_items_open_subject", "subject_type", "subject_id", unique=True,
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
    )


class SanctionKind(enum.StrEnum):
    """The ladder (EC-2..EC-5), mildest first within each subject."""

    # members
    WARNING = "warning"
    RESTRICT = "restrict"  # take functions away for a while (forwarding, envelopes, founding)
    MUTE = "mute"  # no posting in one group
    SUSPEND = "suspend"  # no posting, forwarding, envelopes or founding anywhere
    BLACKLIST = "blacklist"  # suspend for good and block re-registration of the identity
    # groups
    GROUP_WARNING = "group_warning"
    SUSPEND_POSTING = "suspend_posting"
    CLOSE = "close"
    # founders and admins
    LOWER_CREDIT = "lower_credit"
    SUSPEND_ADMIN = "suspend_admin"
    REVOKE_FOUNDING = "revoke_founding"


class Sanction(Base):
    """A measure against an account or a group, with scope and duration (AT-1)."""

    __tablename__ = "sanctions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(16))  # account | group
    subject_id: Mapped[int] = mapped_column(IdType)
    kind: Mapped[str] = mapped_column(String(32))
    # Functions taken away (kernel.restrictions.Function values) for restrict/suspend/…
    functions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Scope: one group (mute, suspend_admin) or None for everywhere.
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: permanent
    reason: Mapped[str] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(64))
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    review_item_id: Mapped[int | None] = mapped_column(IdType)
    imposed_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    credit_delta: Mapped[int] = mapped_column(Integer, default=0)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    lift_reason: Mapped[str | None] = mapped_column(Text)
    # Set when an appeal overturned it: an overturned sanction no longer counts as a rung of
    # the ladder (next_step, the warning-first rule), while a merely lifted one still does.
    overturned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_sanctions_subject", "subject_type", "subject_id"),)


class CreditEvent(Base):
    """One contribution to a credit score (EC-1, EC-7). Reversed, never deleted."""

    __tablename__ = "credit_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(16))  # account | group
    subject_id: Mapped[int] = mapped_column(IdType)
    delta: Mapped[int] = mapped_column(Integer)  # negative lowers the score
    cause: Mapped[str] = mapped_column(String(32))  # sanction | report_upheld | …
    sanction_id: Mapped[int | None] = mapped_column(IdType)
    review_item_id: Mapped[int | None] = mapped_column(IdType)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_credit_events_subject", "subject_type", "subject_id"),)


class Statement(Base):
    """A statement of reasons (AT-1) to the person a measure affects; appeals point here."""

    __tablename__ = "statements"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # What it explains: a sanction, a removed message or a held message.
    measure: Mapped[str] = mapped_column(String(32))
    sanction_id: Mapped[int | None] = mapped_column(IdType, index=True)
    message_id: Mapped[int | None] = mapped_column(IdType)
    review_item_id: Mapped[int | None] = mapped_column(IdType)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    scope: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    facts: Mapped[str] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(64))
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    # The person who decided the measure, for the four-eyes rule on appeal (AT-2); None only
    # for a measure automation took on its own (a hold before review).
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    redress: Mapped[str] = mapped_column(Text)
    appeal_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AppealStatus(enum.StrEnum):
    OPEN = "open"
    UPHELD = "upheld"  # the original decision stands
    OVERTURNED = "overturned"  # the decision is reversed: sanction lifted, credit restored


class Appeal(Base):
    """One appeal per statement (AT-2), decided by an officer other than the decider."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), unique=True)
    appellant_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=AppealStatus.OPEN)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
