"""API shapes of groups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from qunguan.groups.models import Category, ElectionPolicy, ElectionScope, JoinPolicy, Role


class GroupCreate(BaseModel):
    name: str = Field(max_length=200)
    category: Category
    tier: int = Field(1, ge=1, le=3, description="1 ordinary, 2 important, 3 key (重点)")
    join_policy: JoinPolicy = JoinPolicy.APPROVAL
    rules_text: str = Field("", max_length=5000)
    member_cap: int | None = Field(None, ge=2)


class GroupPublic(BaseModel):
    """The group info page (GA-3)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    category: str
    tier: int
    join_policy: str
    member_cap: int
    member_count: int
    posting_suspended: bool
    rules_text: str
    rules_version: int
    created_at: datetime
    org_unit: str | None = None


class MyGroup(BaseModel):
    group: GroupPublic
    role: str
    muted_until: datetime | None


class MemberPublic(BaseModel):
    account_id: int
    display_name: str
    avatar_text: str | None
    role: str
    badge: str | None = Field(description="群主 for the founder, 管理员 for admins (GA-1)")
    verified: bool
    muted_until: datetime | None
    ip_province: str | None


class JoinRequestIn(BaseModel):
    note: str | None = Field(None, max_length=500)
    rules_version: int | None = Field(None, ge=0, le=2**31 - 1,
                                      description="The rules version acknowledged")


class JoinRequestPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    group_id: int
    account_id: int
    status: str
    note: str | None
    created_at: datetime
    decided_at: datetime | None


class DecisionIn(BaseModel):
    approve: bool


MAX_ID = 2**63 - 1  # ids are signed 64-bit


class InviteIn(BaseModel):
    account_id: int = Field(ge=1, le=MAX_ID)


class InvitationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    group_id: int
    inviter_id: int
    invitee_id: int
    status: str
    created_at: datetime


class AcceptIn(BaseModel):
    rules_version: int | None = None


class MuteIn(BaseModel):
    seconds: int = Field(ge=1, le=30 * 24 * 3600)
    reason: str | None = Field(None, max_length=500)


class RemoveIn(BaseModel):
    reason: str | None = Field(None, max_length=500)


class RulesIn(BaseModel):
    text: str = Field(max_length=5000)


class RoleIn(BaseModel):
    role: Role


class TransferIn(BaseModel):
    account_id: int = Field(ge=1, le=MAX_ID)


# --- election periods -----------------------------------------------------------------------

AccountId = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]


def _iso_text(value: object) -> object:
    if not isinstance(value, str | datetime):
        raise ValueError("an ISO 8601 date and time with a time zone")
    return value


# An ISO 8601 string with a time zone, never a number of seconds.
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


class AssociateIn(BaseModel):
    account_id: AccountId
    candidate_id: AccountId


class ElectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=400)
    scope: ElectionScope
    group_id: AccountId | None = None
    category: Category | None = None
    org_unit: str | None = Field(None, max_length=200)
    starts_at: Moment
    ends_at: Moment
    vote_at: Moment | None = None
    policy: ElectionPolicy | None = None
    candidate_ids: list[AccountId] = Field(default_factory=list, max_length=500)
    associates: list[AssociateIn] = Field(default_factory=list, max_length=500)


class ElectionCancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=2000)


class OrgUnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_unit: str | None = Field(max_length=200)


class ElectionPerson(BaseModel):
    account_id: int
    display_name: str
    role: str
    candidate_id: int | None


class ElectionPublic(BaseModel):
    id: int
    name: str
    scope: str
    group_id: int | None
    category: str | None
    org_unit: str | None
    policy: str
    starts_at: datetime
    ends_at: datetime
    vote_at: datetime
    declared_by: int
    created_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str | None
    people: list[ElectionPerson]
    group_ids: list[int]
