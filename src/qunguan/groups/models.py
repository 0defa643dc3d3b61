"""Groups, memberships with roles, join requests and invitations (GA-1..GA-9)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime


class Category(enum.StrEnum):
    """The nature of a group (GA-4); later policies (red envelopes, rumours) key on it."""

    PARTY_BRANCH = "party_branch"
    VILLAGE_COMMITTEE = "village_committee"
    GOVERNMENT_OFFICE = "government_office"
    WORK = "work"
    SOCIAL = "social"


class Role(enum.StrEnum):
    FOUNDER = "founder"
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def rank(self) -> int:
        return {"founder": 3, "admin": 2, "member": 1}[self.value]

    @property
    def badge(self) -> str | None:
        """The in-group badge members see (GA-1)."""
        return {"founder": "群主", "admin": "管理员"}.get(self.value)


class JoinPolicy(enum.StrEnum):
    APPROVAL = "approval"  # anyone with the code may ask; an admin approves
    INVITE_ONLY = "invite_only"  # only invitations from admins


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32), index=True)
    tier: Mapped[int] = mapped_column(Integer, default=1)
    founder_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    join_policy: Mapped[str] = mapped_column(String(16), default=JoinPolicy.APPROVAL)
    member_cap: Mapped[int] = mapped_column(Integer)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    posting_suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    rules_text: Mapped[str] = mapped_column(Text, default="")
    rules_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The organisational unit the group belongs to (a township, a bureau): elections may be
    # declared for every group of a unit (PAY-3).
    org_unit: Mapped[str | None] = mapped_column(String(64), index=True)


class Membership(Base):
    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rules_version_ack: Mapped[int] = mapped_column(Integer, default=0)
    rules_ack_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("group_id", "account_id"),)


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACCEPTED = "accepted"  # invitations
    # Left pending when the account joined by another way (an invitation or another
    # request); settled so that it cannot readmit them after a later removal.
    SUPERSEDED = "superseded"


class JoinRequest(Base):
    __tablename__ = "join_requests"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING)
    note: Mapped[str | None] = mapped_column(String(500))
    rules_version_ack: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))

    __table_args__ = (Index("ix_join_requests_group_status", "group_id", "status"),)


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    inviter_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    invitee_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- election periods (PAY-3, PAY-4) ----------------------------------------------------------


class ElectionScope(enum.StrEnum):
    GROUP = "group"  # one group
    CATEGORY = "category"  # every group of a category (e.g. all village committees)
    ORG_UNIT = "org_unit"  # every group of an organisational unit


class ElectionPolicy(enum.StrEnum):
    """What happens to red envelopes in a group under an election, weakest first."""

    DISCLOSE = "disclose"  # allowed, recorded for the election committee
    HOLD = "hold"  # held until a reviewer releases or refuses them
    BLOCK = "block"  # refused at send time

    @property
    def strength(self) -> int:
        return {"disclose": 1, "hold": 2, "block": 3}[self.value]


class CandidateRole(enum.StrEnum):
    CANDIDATE = "candidate"
    ASSOCIATE = "associate"  # a relative or agent of a candidate, as the committee declares


class ElectionPeriod(Base):
    """An election declared by an officer: red envelopes in the covered groups fall under its
    policy from ``starts_at`` to ``ends_at`` (the vote is ``vote_at``, inside the period)."""

    __tablename__ = "election_periods"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(16))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), index=True)
    category: Mapped[str | None] = mapped_column(String(32))
    org_unit: Mapped[str | None] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    vote_at: Mapped[datetime] = mapped_column(UTCDateTime)
    declared_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))


class ElectionCandidate(Base):
    __tablename__ = "election_candidates"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("election_periods.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=CandidateRole.CANDIDATE)
    # For an associate: the candidate they are associated with.
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))

    __table_args__ = (UniqueConstraint("election_id", "account_id"),)
