"""Real-name verification providers (ID-3, ID-4), registered like plug-ins.

A provider takes a submission and either verifies the account at once, leaves it pending for
an officer, or refuses it. The built-ins register themselves exactly as a third party would::

    from qunguan.identity.verification import register_provider
    register_provider(MyProvider())
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from qunguan.identity import vault
from qunguan.identity.models import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork


@dataclass(frozen=True)
class Outcome:
    status: Literal["verified", "pending"]
    identity_index: str
    vault_record_id: int


class VerificationProvider(Protocol):
    name: str
    title: str
    fields: tuple[str, ...]

    def verify(self, uow: UnitOfWork, account: Account, submission: dict[str, Any]) -> Outcome:
        """Check the submission; raise a QunguanError when it fails. May seal into the vault."""
        ...


PROVIDERS: dict[str, VerificationProvider] = {}


def register_provider(provider: VerificationProvider) -> None:
    if provider.name in PROVIDERS:
        raise ValueError(f"verification provider {provider.name!r} registered twice")
    PROVIDERS[provider.name] = provider


def get_provider(name: str) -> VerificationProvider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise QunguanError("unknown_provider", f"No verification provider {name!r}.",
                           known=sorted(PROVIDERS)) from None


def _text(submission: dict[str, Any], key: str) -> str:
    value = submission.get(key)
    if not isinstance(value, str) or not value.strip():
        raise QunguanError("invalid_request", f"{key} is required.", fields=[key])
    return value


def _seal_resident(uow: UnitOfWork, account: Account,
                   submission: dict[str, Any]) -> vault.SealedIdentity:
    return vault.seal_resident_identity(
        uow, account_id=account.id, legal_name=_text(submission, "legal_name"),
        id_number=_text(submission, "id_number"))


class ResidentIdProvider:
    """Legal name + 18-digit resident ID number, checked locally (cn.ric and our own rules).

    Production deployments put a check against the authoritative source behind the same
    interface; the checks here (format, region, birth date, check digit) always run first.
    """

    name = "resident_id"
    title = "Resident ID card (居民身份证)"
    fields: tuple[str, ...] = ("legal_name", "id_number")

    def verify(self, uow: UnitOfWork, account: Account, submission: dict[str, Any]) -> Outcome:
        sealed = _seal_resident(uow, account, submission)
        return Outcome("verified", sealed.identity_index, sealed.record_id)


class OfficerReviewProvider:
    """The member submits their identity; an officer checks the documents and approves."""

    name = "officer_review"
    title = "Review by an officer (人工审核)"
    fields: tuple[str, ...] = ("legal_name", "id_number")

    def verify(self, uow: UnitOfWork, account: Account, submission: dict[str, Any]) -> Outcome:
        sealed = _seal_resident(uow, account, submission)
        return Outcome("pending", sealed.identity_index, sealed.record_id)


def sign_sandbox_network_token(secret: str, network_number: str, result: str = "pass") -> str:
    """Make a token the sandbox 网号 verifier accepts (demo and tests)."""
    body = base64.urlsafe_b64encode(json.dumps(
        {"nid": network_number, "result": result}).encode()).decode().rstrip("=")
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{sig}"


class NetworkIdProvider:
    """国家网络身份认证 (网号/网证, 2025): result-only verification (NID, ID-4).

    The client hands us the opaque credential the national app issued; we learn only the
    result and an opaque per-person network number, never a plaintext ID. This build ships a
    **sandbox** verifier that accepts tokens signed with ``QUNGUAN_NETWORK_ID_SANDBOX_SECRET``;
    a production deployment registers an adapter for the national service under this name.
    """

    name = "network_id"
    title = "National network identity (网号/网证), sandbox"
    fields: tuple[str, ...] = ("token",)

    def verify(self, uow: UnitOfWork, account: Account, submission: dict[str, Any]) -> Outcome:
        token = _text(submission, "token").strip()
        secret = uow.settings.network_id_sandbox_secret
        if not secret:
            raise QunguanError("verification_failed", "The network identity service is not "
                               "configured on this server.", reason="not_configured")
        body, _, sig = token.partition(".")
        expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        if not sig or not hmac.compare_digest(sig, expected):
            raise QunguanError("verification_failed", "The network identity credential was "
                               "not accepted.")
        try:
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            network_number = str(claims["nid"])
            result = claims["result"]
        except (ValueError, KeyError, TypeError):
            raise QunguanError("verification_failed", "The credential is malformed.") from None
        if result != "pass":
            raise QunguanError("verification_failed", "The national service did not confirm "
                               "the identity.")
        sealed = vault.seal_network_identity(uow, account_id=account.id, token=token,
                                             network_number=network_number)
        return Outcome("verified", sealed.identity_index, sealed.record_id)


def _register_builtins() -> None:
    for provider in (ResidentIdProvider(), NetworkIdProvider(), OfficerReviewProvider()):
        if provider.name not in PROVIDERS:
            register_provider(provider)


_register_builtins()
