"""Identity tables. None of them holds a plaintext legal name, ID number or phone number:
those live encrypted in ``vault_records`` and are looked up by keyed blind index."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime


class AccountKind(enum.StrEnum):
    MEMBER = "member"
    OFFICER = "officer"  # institution staff: verification review, oversight
    SYSTEM = "system"  # the actor of automated actions


class VerificationStatus(enum.StrEnum):
    UNVERIFIED = "unverified"
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    phone_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16), default=AccountKind.MEMBER)
    display_name: Mapped[str] = mapped_column(String(64))
    avatar_text: Mapped[str | None] = mapped_column(String(8))
    verification: Mapped[str] = mapped_column(String(16), default=VerificationStatus.UNVERIFIED)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_via: Mapped[str | None] = mapped_column(String(32))
    # Blind index of the verified identity: unique, so one identity verifies one account.
    identity_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    ip_province: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_verified(self) -> bool:
        return self.verification == VerificationStatus.VERIFIED

    @property
    def is_officer(self) -> bool:
        return self.kind == AccountKind.OFFICER


class AuthToken(Base):
    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """Failed logins, counted per phone index and per client address for rate limiting."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    phone_index: Mapped[str] = mapped_column(String(64))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_login_attempts_phone_at", "phone_index", "at"),
                      Index("ix_login_attempts_ip_at", "source_ip", "at"))


class VaultRecord(Base):
    """An envelope-encrypted record: AES-256-GCM under a per-record data key, which is itself
    wrapped by the master key ``key_id``. Only ``identity/vault.py`` reads or writes these."""

    __tablename__ = "vault_records"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    blind_index: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Verification(Base):
    """One attempt to verify an account with a provider, and its outcome."""

    __tablename__ = "verifications"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    identity_index: Mapped[str | None] = mapped_column(String(64))
    vault_record_id: Mapped[int | None] = mapped_column(ForeignKey("vault_records.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    note: Mapped[str | None] = mapped_column(String(500))


class BlacklistedIdentity(Base):
    """Identities barred from verifying again (EC-5), by blind index only."""

    __tablename__ = "blacklisted_identities"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    identity_index: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))


class UnmaskStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for a second officer
    APPROVED = "approved"  # the requester may read the identity once, until reveal_until
    REJECTED = "rejected"
    REVEALED = "revealed"  # read once; never again


class UnmaskRequest(Base):
    """Dual-control unmasking (CR-7, PI-3): officer A asks, with a reason and a case, to see an
    account's legal name and ID number; officer B approves; A reads it once in a window. The
    identity itself stays in the vault: this row holds references only."""

    __tablename__ = "unmask_requests"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # Why this account: "account" (named by the officer) or "cascade_originator" (the first
    # sender of a rumour cascade, cluster_id).
    basis: Mapped[str] = mapped_column(String(32))
    cluster_id: Mapped[int | None] = mapped_column(IdType)
    case_id: Mapped[int] = mapped_column(IdType)  # the review item the request serves
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=UnmaskStatus.PENDING)
    requested_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    reveal_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
