"""API shapes of identity. Plaintext identity travels only in SecretStr fields, which never
print, log or echo back."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class RegisterIn(BaseModel):
    phone: SecretStr = Field(description="Mainland mobile number; sealed in the vault.",
                             max_length=32)
    password: SecretStr = Field(min_length=1, max_length=1024)
    display_name: str = Field(max_length=200)
    avatar_text: str | None = Field(None, max_length=20)


class LoginIn(BaseModel):
    phone: SecretStr = Field(max_length=32)
    password: SecretStr = Field(max_length=1024)


class ProfileUpdate(BaseModel):
    display_name: str | None = Field(None, max_length=200)
    avatar_text: str | None = Field(None, max_length=20)


class MePublic(BaseModel):
    """The account as its owner sees it: still no phone, no legal name, no ID number."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    display_name: str
    avatar_text: str | None
    kind: str
    verification: str
    verified_via: str | None
    verified_at: datetime | None
    ip_province: str | None


class AccountPublic(BaseModel):
    """Another member as members see them (ID-2, ID-6)."""

    id: int
    display_name: str
    avatar_text: str | None
    verified: bool
    officer: bool
    ip_province: str | None


class SessionPublic(BaseModel):
    token: str
    expires_at: datetime
    account: MePublic


class ProviderPublic(BaseModel):
    name: str
    title: str
    fields: list[str]


class VerificationIn(BaseModel):
    provider: str = Field(max_length=32)
    legal_name: SecretStr | None = None
    id_number: SecretStr | None = None
    token: SecretStr | None = None


class VerificationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int
    provider: str
    status: str
    submitted_at: datetime
    decided_at: datetime | None
    note: str | None


class DecisionIn(BaseModel):
    approve: bool
    note: str | None = Field(None, max_length=500)


class RevealIn(BaseModel):
    purpose: str = Field(max_length=500)
    request_ref: str = Field(max_length=200)


class RevealedIdentity(BaseModel):
    """Vault path only: returned by the audited reveal route, nowhere else. Both are None
    for a result-only verification (network_id), which seals no name or number."""

    legal_name: str | None
    id_number: str | None


class BlacklistIn(BaseModel):
    reason: str = Field(max_length=500)
