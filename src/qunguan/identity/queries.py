"""Reads of identity: authentication, profiles, verification state."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select

from qunguan.identity.models import (
    Account,
    AccountKind,
    AuthToken,
    BlacklistedIdentity,
    Verification,
)
from qunguan.identity.verification import PROVIDERS, VerificationProvider
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(uow: UnitOfWork, token: str | None) -> Account:
    return authenticate_session(uow, token)[0]


def authenticate_session(uow: UnitOfWork, token: str | None) -> tuple[Account, AuthToken]:
    if not token:
        raise QunguanError("not_authenticated", "Send a bearer token: Authorization: Bearer …")
    # One round trip for the token and its account: every authenticated request pays it.
    found = uow.session.execute(select(AuthToken, Account).join(
        Account, Account.id == AuthToken.account_id).where(
        AuthToken.token_hash == token_hash(token))).first()
    if found is None or found[0].revoked_at is not None:
        raise QunguanError("invalid_token", "The token is unknown or was revoked.")
    row, account = found
    if row.expires_at <= uow.now():
        raise QunguanError("token_expired", "The token has expired; log in again.")
    if account.closed_at is not None:
        raise QunguanError("account_closed", "The account is closed.")
    return account, row


def account_by_phone_index(uow: UnitOfWork, index: str) -> Account | None:
    return uow.session.scalar(select(Account).where(Account.phone_index == index))


def require_verified(account: Account) -> Account:
    """ID-1: no posting, forwarding, group creation or red envelopes before verification."""
    if not account.is_verified:
        raise QunguanError("real_name_required", "Verify your real identity first (实名认证).",
                           verification=account.verification)
    return account


def require_officer(account: Account) -> Account:
    if account.kind != AccountKind.OFFICER:
        raise QunguanError("forbidden", "Only officers may do this.")
    return account


def get_account(uow: UnitOfWork, account_id: int) -> Account:
    account = uow.session.get(Account, account_id)
    if account is None or account.kind == AccountKind.SYSTEM:
        raise QunguanError("not_found", "No such account.")
    return account


def access_account(uow: UnitOfWork, *, viewer: Account, account_id: int) -> Account:
    """Another account's profile: for the account itself and officers. Members see each
    other through the member lists of the groups they share, never by enumerating ids."""
    if viewer.id != account_id and not viewer.is_officer:
        raise QunguanError("not_found", "No such account.")
    return get_account(uow, account_id)


def accounts_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> dict[int, Account]:
    if not ids:
        return {}
    rows = uow.session.scalars(select(Account).where(Account.id.in_(set(ids))))
    return {a.id: a for a in rows}


def system_account(uow: UnitOfWork) -> Account:
    """The actor of automated actions (never None); created on first use."""
    account = uow.session.scalar(select(Account).where(Account.kind == AccountKind.SYSTEM)
                                 .order_by(Account.id).limit(1))
    if account is None:
        account = Account(kind=AccountKind.SYSTEM, display_name="system",
                          created_at=uow.now())
        uow.session.add(account)
        uow.session.flush()
    return account


def my_verifications(uow: UnitOfWork, account: Account) -> list[Verification]:
    return list(uow.session.scalars(select(Verification).where(
        Verification.account_id == account.id).order_by(Verification.id.desc())))


def list_verifications(uow: UnitOfWork, viewer: Account, status: str | None) -> list[Verification]:
    require_officer(viewer)
    stmt = select(Verification).order_by(Verification.id)
    if status:
        stmt = stmt.where(Verification.status == status)
    return list(uow.session.scalars(stmt.limit(500)))


def access_verification(uow: UnitOfWork, viewer: Account, verification_id: int, *,
                        for_update: bool = False) -> Verification:
    require_officer(viewer)
    row = uow.session.get(Verification, verification_id, with_for_update=for_update,
                          populate_existing=for_update)
    if row is None:
        raise QunguanError("not_found", "No such verification.")
    return row


def is_blacklisted(uow: UnitOfWork, identity_index: str) -> bool:
    return uow.session.scalar(select(BlacklistedIdentity.id).where(
        BlacklistedIdentity.identity_index == identity_index)) is not None


def verification_providers() -> list[VerificationProvider]:
    """The registered providers, in registration order (built-ins first)."""
    return list(PROVIDERS.values())
