"""Identity API: accounts, sessions, real-name verification, officer review."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from qunguan.identity import actions, queries
from qunguan.identity.deps import BearerToken, CurrentAccount
from qunguan.identity.models import Account
from qunguan.identity.schemas import (
    AccountPublic,
    BlacklistIn,
    DecisionIn,
    LoginIn,
    MePublic,
    ProfileUpdate,
    ProviderPublic,
    RegisterIn,
    RevealedIdentity,
    RevealIn,
    SessionPublic,
    VerificationIn,
    VerificationPublic,
)
from qunguan.identity.verification import PROVIDERS
from qunguan.kernel.web import IdPath, UowDep

router = APIRouter(prefix="/api", tags=["identity"])


def account_public(account: Account, show_ip: bool) -> AccountPublic:
    return AccountPublic(id=account.id, display_name=account.display_name,
                         avatar_text=account.avatar_text, verified=account.is_verified,
                         officer=account.is_officer,
                         ip_province=account.ip_province if show_ip else None)


@router.post("/accounts", status_code=201, response_model=MePublic)
def register(body: RegisterIn, uow: UowDep) -> Account:
    return actions.do_register(uow, phone=body.phone.get_secret_value(),
                               password=body.password.get_secret_value(),
                               display_name=body.display_name, avatar_text=body.avatar_text)


@router.post("/sessions", status_code=201, response_model=SessionPublic)
def login(body: LoginIn, uow: UowDep) -> SessionPublic:
    result = actions.do_login(uow, phone=body.phone.get_secret_value(),
                              password=body.password.get_secret_value())
    return SessionPublic(token=result.token, expires_at=result.token_row.expires_at,
                         account=MePublic.model_validate(result.account))


@router.delete("/sessions/current", status_code=204)
def logout(uow: UowDep, me: CurrentAccount, token: BearerToken) -> Response:
    actions.do_logout(uow, acting=me, token=token or "")
    return Response(status_code=204)


@router.get("/me", response_model=MePublic)
def get_me(me: CurrentAccount) -> Account:
    return me


@router.patch("/me", response_model=MePublic)
def update_me(body: ProfileUpdate, uow: UowDep, me: CurrentAccount) -> Account:
    return actions.do_update_profile(uow, acting=me, display_name=body.display_name,
                                     avatar_text=body.avatar_text)


@router.get("/accounts/{account_id}", response_model=AccountPublic)
def get_account(account_id: IdPath, uow: UowDep, me: CurrentAccount) -> AccountPublic:
    return account_public(queries.access_account(uow, viewer=me, account_id=account_id),
                          uow.settings.show_ip_province)


@router.get("/verification-providers", response_model=list[ProviderPublic])
def list_providers() -> list[ProviderPublic]:
    return [ProviderPublic(name=p.name, title=p.title, fields=list(p.fields))
            for p in PROVIDERS.values()]


@router.post("/me/verifications", status_code=201, response_model=VerificationPublic)
def submit_verification(body: VerificationIn, uow: UowDep, me: CurrentAccount) -> Any:
    submission = {k: v.get_secret_value() for k, v in
                  (("legal_name", body.legal_name), ("id_number", body.id_number),
                   ("token", body.token)) if v is not None}
    return actions.do_submit_verification(uow, acting=me, provider=body.provider,
                                          submission=submission)


@router.get("/me/verifications", response_model=list[VerificationPublic])
def my_verifications(uow: UowDep, me: CurrentAccount) -> Any:
    return queries.my_verifications(uow, me)


@router.get("/officer/verifications", response_model=list[VerificationPublic])
def list_verifications(uow: UowDep, me: CurrentAccount, status: str | None = None) -> Any:
    return queries.list_verifications(uow, me, status)


@router.post("/officer/verifications/{verification_id}/decision",
             response_model=VerificationPublic)
def decide_verification(verification_id: IdPath, body: DecisionIn, uow: UowDep,
                        me: CurrentAccount) -> Any:
    return actions.do_decide_verification(uow, acting=me, verification_id=verification_id,
                                          approve=body.approve, note=body.note)


@router.post("/officer/verifications/{verification_id}/reveal",
             response_model=RevealedIdentity, tags=["vault"])
def reveal_identity(verification_id: IdPath, body: RevealIn, uow: UowDep,
                    me: CurrentAccount) -> RevealedIdentity:
    """Vault path: an audited read of a submitted identity, for review."""
    fields = actions.do_reveal_identity(uow, acting=me, verification_id=verification_id,
                                        purpose=body.purpose, request_ref=body.request_ref)
    return RevealedIdentity(legal_name=fields.get("legal_name"),
                            id_number=fields.get("id_number"))


@router.post("/officer/accounts/{account_id}/blacklist", status_code=201)
def blacklist_account(account_id: IdPath, body: BlacklistIn, uow: UowDep,
                      me: CurrentAccount) -> dict[str, Any]:
    row = actions.do_blacklist_account(uow, acting=me, account_id=account_id, reason=body.reason)
    return {"account_id": account_id, "blacklisted_at": row.created_at.isoformat()}
