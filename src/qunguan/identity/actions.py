"""Every state change of identity: accounts, sessions, verification, the blacklist."""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from qunguan.identity import vault
from qunguan.identity.iplocation import locate
from qunguan.identity.models import (
    Account,
    AccountKind,
    AuthToken,
    BlacklistedIdentity,
    LoginAttempt,
    Verification,
    VerificationStatus,
)
from qunguan.identity.queries import (
    access_verification,
    account_by_phone_index,
    get_account,
    is_blacklisted,
    require_officer,
    system_account,
    token_hash,
)
from qunguan.identity.verification import get_provider
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.ids import new_token
from qunguan.kernel.text import is_storable, optional_text, require_storable
from qunguan.kernel.uow import UnitOfWork, record_audit

# ID-5: display names may not pass for an organisation, an official or the service itself.
RESERVED_NAME_TERMS = ("官方", "管理员", "客服", "公安", "警察", "政府", "纪委", "监委",
                       "网信办", "qunguan", "official", "admin")
MIN_PASSWORD = 8


@functools.lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_cost: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)


def hasher(uow: UnitOfWork) -> PasswordHasher:
    return _hasher(uow.settings.argon2_time_cost, uow.settings.argon2_memory_cost_kib)


def check_display_name(name: str) -> str:
    name = unicodedata.normalize("NFKC", require_storable(name, "display_name")).strip()
    if not 1 <= len(name) <= 32 or not name.isprintable():
        raise QunguanError("invalid_display_name", "Choose 1 to 32 visible characters.")
    folded = name.casefold().replace(" ", "")
    for term in RESERVED_NAME_TERMS:
        if term in folded:
            raise QunguanError("display_name_reserved", "This name could pass for an "
                               "organisation or an official.", term=term)
    return name


def check_phone(phone: str) -> None:
    """Refuse a number that is not a mainland mobile number (invalid_phone), before any
    query: forms use it to report every bad field at once."""
    vault.normalise_phone(phone)


def check_avatar_text(text: str | None) -> str | None:
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text).strip()
    if len(text) > 2:
        raise QunguanError("invalid_request", "avatar_text holds at most 2 characters.",
                           fields=["avatar_text"])
    return text or None


# --- accounts ----------------------------------------------------------------------------


def _phone_taken() -> QunguanError:
    return QunguanError("phone_taken", "An account with this phone number exists; log in.")


def check_phone_free(uow: UnitOfWork, index: str) -> None:
    if account_by_phone_index(uow, index) is not None:
        raise _phone_taken()


def do_register(uow: UnitOfWork, *, phone: str, password: str, display_name: str,
                avatar_text: str | None = None, kind: AccountKind = AccountKind.MEMBER) -> Account:
    index = vault.phone_index(uow, phone)
    if len(password) < MIN_PASSWORD:
        raise QunguanError("weak_password", "Use at least 8 characters.", min_length=8)
    require_storable(password, "password")
    name = check_display_name(display_name)
    avatar = check_avatar_text(avatar_text)
    # Hash before the first query: argon2 is deliberately slow and must not run while the
    # transaction holds database locks (on SQLite, the one write lock of the process).
    password_hash = hasher(uow).hash(password)
    check_phone_free(uow, index)
    account = Account(phone_index=index, password_hash=password_hash, kind=kind,
                      display_name=name, avatar_text=avatar,
                      verification=VerificationStatus.UNVERIFIED, created_at=uow.now(),
                      ip_province=locate(uow.meta.source_ip, uow.settings.ip_location_file))
    uow.session.add(account)
    try:
        uow.session.flush()
    except IntegrityError:
        # The unique index has the last word: a concurrent registration of the same number
        # passed the check above before this one committed (PostgreSQL, read committed).
        raise _phone_taken() from None
    vault.seal_phone(uow, account_id=account.id, raw=phone)
    record_audit(uow, EventType.ACCOUNT_REGISTERED, acting=account, subject_type="account",
                 subject_id=account.id, extra={"kind": str(kind)})
    uow.emit(EventType.ACCOUNT_REGISTERED, account_ids=(account.id,), account_id=account.id)
    return account


def do_update_profile(uow: UnitOfWork, *, acting: Account, display_name: str | None,
                      avatar_text: str | None) -> Account:
    changes: dict[str, Any] = {}
    if display_name is not None:
        new = check_display_name(display_name)
        if new != acting.display_name:
            changes["display_name"] = {"old": acting.display_name, "new": new}
            acting.display_name = new
    if avatar_text is not None:
        new_avatar = check_avatar_text(avatar_text)
        if new_avatar != acting.avatar_text:
            changes["avatar_text"] = {"old": acting.avatar_text, "new": new_avatar}
            acting.avatar_text = new_avatar
    if changes:
        record_audit(uow, EventType.PROFILE_UPDATED, acting=acting, subject_type="account",
                     subject_id=acting.id, extra=changes)
        uow.emit(EventType.PROFILE_UPDATED, account_ids=(acting.id,), account_id=acting.id,
                 display_name=acting.display_name, avatar_text=acting.avatar_text)
    return acting


# --- sessions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    token: str
    token_row: AuthToken
    account: Account


def _recent_failures(uow: UnitOfWork, *conditions: Any) -> int:
    since = uow.now() - timedelta(seconds=uow.settings.login_window_seconds)
    return int(uow.session.scalar(select(func.count(LoginAttempt.id)).where(
        LoginAttempt.at > since, *conditions)) or 0)


def _login_limited(uow: UnitOfWork, index: str, ip: str | None) -> bool:
    """Three budgets of failed logins within the window: one phone number from one address
    (the tight one), one address over all numbers (spraying), and one number over all
    addresses (distributed guessing). Keying the tight budget on the pair means nobody can
    lock a colleague out of their account from elsewhere with a few wrong passwords."""
    s = uow.settings
    by_phone = LoginAttempt.phone_index == index
    if ip is not None:
        by_ip = LoginAttempt.source_ip == ip
        if _recent_failures(uow, by_phone, by_ip) >= s.login_max_failures:
            return True
        if _recent_failures(uow, by_ip) >= s.login_max_failures_per_address:
            return True
    elif _recent_failures(uow, by_phone, LoginAttempt.source_ip.is_(None)) >= \
            s.login_max_failures:
        return True
    return _recent_failures(uow, by_phone) >= s.login_max_failures_per_phone


def do_login(uow: UnitOfWork, *, phone: str, password: str) -> LoginResult:
    index = vault.phone_index(uow, phone)
    if not is_storable(password):  # no stored password can contain it
        raise QunguanError("invalid_credentials", "Wrong phone number or password.")
    settings = uow.settings
    ip = uow.meta.source_ip
    if _login_limited(uow, index, ip):
        raise QunguanError("too_many_attempts", "Too many failed logins; try again later.",
                           retry_after=settings.login_window_seconds)
    found = account_by_phone_index(uow, index)
    account_id, stored = (found.id, found.password_hash) if found else (None, None)
    # Nothing is written yet: end the read so the slow argon2 check holds no database lock.
    uow.end_read()
    ok = False
    if stored:
        try:
            ok = hasher(uow).verify(stored, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        # Spend the same time as a real check so timing does not reveal registered numbers.
        hasher(uow).hash(password)
    # A rehash after the cost settings changed is slow too: also outside the transaction.
    rehashed = hasher(uow).hash(password) if ok and stored and \
        hasher(uow).check_needs_rehash(stored) else None
    account = uow.session.get(Account, account_id) if account_id is not None else None
    # Counted again now the write transaction holds the lock: parallel guesses that all
    # passed the first check before any failure was recorded cannot all get in.
    if ok and _login_limited(uow, index, ip):
        raise QunguanError("too_many_attempts", "Too many failed logins; try again later.",
                           retry_after=settings.login_window_seconds)
    if not ok or account is None:
        uow.session.add(LoginAttempt(phone_index=index, source_ip=ip, at=uow.now()))
        # The attempt is anonymous: the system records it, the account is only its target.
        record_audit(uow, EventType.LOGIN_FAILED, acting=system_account(uow),
                     subject_type="account",
                     subject_id=account.id if account else None)
        # Kept with the failure (keep_writes) for security monitoring; addressed to no
        # account, so nothing is pushed to the sockets of the account under attack.
        uow.emit(EventType.LOGIN_FAILED, account_id=account.id if account else None)
        raise QunguanError("invalid_credentials", "Wrong phone number or password.").keep_writes()
    if account.closed_at is not None:
        raise QunguanError("account_closed", "The account is closed.")
    if rehashed is not None:
        account.password_hash = rehashed
    token = new_token()
    row = AuthToken(token_hash=token_hash(token), account_id=account.id, created_at=uow.now(),
                    expires_at=uow.now() + timedelta(seconds=settings.token_ttl_seconds))
    uow.session.add(row)
    account.ip_province = locate(ip, settings.ip_location_file) or account.ip_province
    uow.session.flush()
    record_audit(uow, EventType.LOGGED_IN, acting=account, subject_type="session",
                 subject_id=row.id)
    uow.emit(EventType.LOGGED_IN, account_ids=(account.id,), account_id=account.id)
    return LoginResult(token, row, account)


def do_logout(uow: UnitOfWork, *, acting: Account, token: str) -> None:
    row = uow.session.scalar(select(AuthToken).where(AuthToken.token_hash == token_hash(token)))
    if row is None or row.account_id != acting.id:
        raise QunguanError("invalid_token", "The token is unknown or was revoked.")
    row.revoked_at = uow.now()
    record_audit(uow, EventType.LOGGED_OUT, acting=acting, subject_type="session",
                 subject_id=row.id)
    uow.emit(EventType.LOGGED_OUT, account_ids=(acting.id,), account_id=acting.id,
             session_id=row.id)


# --- real-name verification ---------------------------------------------------------------


def _require_usable_identity(uow: UnitOfWork, account: Account, index: str) -> None:
    if is_blacklisted(uow, index):
        raise QunguanError("identity_blacklisted", "This identity may not register (EC-5).")
    owner = uow.session.scalar(select(Account.id).where(Account.identity_index == index))
    if owner is not None and owner != account.id:
        raise QunguanError("identity_in_use", "This identity is verified for another account.")
    pending = uow.session.scalar(select(Verification.id).where(
        Verification.identity_index == index, Verification.account_id != account.id,
        Verification.status == VerificationStatus.PENDING))
    if pending is not None:
        raise QunguanError("identity_in_use", "This identity awaits review for another account.")


def _mark_verified(uow: UnitOfWork, account: Account, verification: Verification) -> None:
    account.verification = VerificationStatus.VERIFIED
    account.verified_at = uow.now()
    account.verified_via = verification.provider
    account.identity_index = verification.identity_index
    try:
        uow.session.flush()
    except IntegrityError:
        # accounts.identity_index is unique: a concurrent verification of the same identity
        # passed _require_usable_identity before the other committed. Answer as the check
        # would have, not with a server error at commit.
        raise QunguanError("identity_in_use", "This identity is verified for another "
                           "account.") from None


def do_submit_verification(uow: UnitOfWork, *, acting: Account, provider: str,
                           submission: dict[str, Any]) -> Verification:
    if acting.is_verified:
        raise QunguanError("already_verified", "This account is already verified.")
    if acting.verification == VerificationStatus.PENDING:
        raise QunguanError("conflict", "A verification is already waiting for review.")
    impl = get_provider(provider)
    outcome = impl.verify(uow, acting, submission)
    _require_usable_identity(uow, acting, outcome.identity_index)
    row = Verification(account_id=acting.id, provider=impl.name, status=outcome.status,
                       identity_index=outcome.identity_index,
                       vault_record_id=outcome.vault_record_id, submitted_at=uow.now())
    uow.session.add(row)
    uow.session.flush()
    record_audit(uow, EventType.VERIFICATION_SUBMITTED, acting=acting,
                 subject_type="verification", subject_id=row.id,
                 extra={"provider": impl.name, "status": outcome.status})
    if outcome.status == "verified":
        row.decided_at = uow.now()
        _mark_verified(uow, acting, row)
        record_audit(uow, EventType.ACCOUNT_VERIFIED, acting=acting, subject_type="account",
                     subject_id=acting.id, extra={"provider": impl.name,
                                                  "verification_id": row.id})
        uow.emit(EventType.ACCOUNT_VERIFIED, account_ids=(acting.id,), account_id=acting.id,
                 provider=impl.name)
    else:
        acting.verification = VerificationStatus.PENDING
        uow.emit(EventType.VERIFICATION_SUBMITTED, account_ids=(acting.id,),
                 account_id=acting.id, verification_id=row.id, provider=impl.name)
    return row


def do_decide_verification(uow: UnitOfWork, *, acting: Account, verification_id: int,
                           approve: bool, note: str | None) -> Verification:
    row = access_verification(uow, acting, verification_id, for_update=True)
    if row.account_id == acting.id:
        raise QunguanError("forbidden", "Another officer must decide your own verification.")
    if row.status != VerificationStatus.PENDING:
        raise QunguanError("conflict", "This verification was already decided.",
                           status=row.status)
    account = get_account(uow, row.account_id)
    row.decided_at = uow.now()
    row.decided_by = acting.id
    row.note = optional_text(note)
    if approve:
        assert row.identity_index is not None
        _require_usable_identity(uow, account, row.identity_index)
        row.status = VerificationStatus.VERIFIED
        _mark_verified(uow, account, row)
        type_ = EventType.ACCOUNT_VERIFIED
    else:
        row.status = VerificationStatus.REJECTED
        account.verification = VerificationStatus.REJECTED
        type_ = EventType.VERIFICATION_REJECTED
    record_audit(uow, type_, acting=acting, subject_type="account", subject_id=account.id,
                 extra={"provider": row.provider, "verification_id": row.id,
                        "note": row.note})
    uow.emit(type_, account_ids=(account.id,), account_id=account.id, verification_id=row.id)
    return row


def do_reveal_identity(uow: UnitOfWork, *, acting: Account, verification_id: int,
                       purpose: str, request_ref: str) -> dict[str, str]:
    """An officer reads a submitted identity to review it: an audited vault read."""
    row = access_verification(uow, acting, verification_id)
    if row.vault_record_id is None:
        raise QunguanError("not_found", "This verification holds no sealed identity.")
    return vault.reveal(uow, row.vault_record_id, acting=acting, purpose=purpose,
                        request_ref=request_ref)


def do_blacklist_account(uow: UnitOfWork, *, acting: Account, account_id: int,
                         reason: str, close_account: bool = True) -> BlacklistedIdentity:
    """EC-5: bar the account's verified identity from verifying again, and close the account.

    ``close_account=False`` (the enforcement blacklist sanction) bars the identity but keeps
    the account open and verified, so the member can still log in to read the statement of
    reasons and appeal (AT-2); the sanction itself takes every function away.

    Works on the blind index alone: nothing is decrypted."""
    require_officer(acting)
    account = get_account(uow, account_id)
    if not reason.strip():
        raise QunguanError("invalid_request", "A reason is required.", fields=["reason"])
    if account.identity_index is None:
        raise QunguanError("conflict", "The account has no verified identity to blacklist.")
    if is_blacklisted(uow, account.identity_index):
        raise QunguanError("conflict", "This identity is already blacklisted.")
    row = BlacklistedIdentity(identity_index=account.identity_index, reason=reason.strip()[:500],
                              created_at=uow.now(), created_by=acting.id)
    uow.session.add(row)
    if not close_account:
        uow.session.flush()
        record_audit(uow, EventType.IDENTITY_BLACKLISTED, acting=acting, subject_type="account",
                     subject_id=account.id, extra={"reason": row.reason, "closed": False})
        uow.emit(EventType.IDENTITY_BLACKLISTED, account_ids=(account.id,),
                 account_id=account.id)
        return row
    account.closed_at = uow.now()
    # Free the unique index so the same identity can be recognised, and refused, elsewhere.
    account.identity_index = None
    account.verification = VerificationStatus.REJECTED  # no longer counts as verified
    for token in uow.session.scalars(select(AuthToken).where(
            AuthToken.account_id == account.id, AuthToken.revoked_at.is_(None))):
        token.revoked_at = uow.now()
    uow.session.flush()
    record_audit(uow, EventType.IDENTITY_BLACKLISTED, acting=acting, subject_type="account",
                 subject_id=account.id, extra={"reason": row.reason})
    uow.emit(EventType.IDENTITY_BLACKLISTED, account_ids=(account.id,), account_id=account.id)
    return row


def do_lift_blacklist(uow: UnitOfWork, *, acting: Account, account_id: int,
                      reason: str) -> None:
    """Undo a blacklist that kept the account open (an overturned appeal, AT-2): the identity
    may verify again. The row goes; the audit records keep both the bar and its lifting."""
    require_officer(acting)
    account = get_account(uow, account_id)
    row = None if account.identity_index is None else uow.session.scalar(
        select(BlacklistedIdentity).where(
            BlacklistedIdentity.identity_index == account.identity_index))
    if row is None:
        raise QunguanError("conflict", "This account's identity is not blacklisted.")
    uow.session.delete(row)
    record_audit(uow, EventType.BLACKLIST_LIFTED, acting=acting, subject_type="account",
                 subject_id=account.id, extra={"reason": reason.strip()[:500]})
    uow.emit(EventType.BLACKLIST_LIFTED, account_ids=(account.id,), account_id=account.id)


def do_set_kind(uow: UnitOfWork, *, acting: Account, account_id: int,
                kind: AccountKind) -> Account:
    """Make an account an officer or a member again (operator CLI)."""
    account = get_account(uow, account_id)
    old = account.kind
    account.kind = kind
    record_audit(uow, EventType.ACCOUNT_KIND_CHANGED, acting=acting, subject_type="account",
                 subject_id=account.id, extra={"old": old, "new": str(kind)})
    uow.emit(EventType.ACCOUNT_KIND_CHANGED, account_ids=(account.id,), account_id=account.id,
             kind=str(kind))
    return account


def do_rotate_keys(uow: UnitOfWork, *, acting: Account) -> tuple[str, int]:
    return vault.rotate_keys(uow, acting=acting)
