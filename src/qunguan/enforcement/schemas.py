"""API shapes of sanctions, credit, statements and appeals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Ids are BIGINT: a larger number would fail in the driver (a 500), not answer 422.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
MAX_DURATION_SECONDS = 5 * 365 * 24 * 3600

SubjectLiteral = Literal["account", "group"]
KindLiteral = Literal["warning", "restrict", "mute", "suspend", "blacklist", "group_warning",
                      "suspend_posting", "close", "lower_credit", "suspend_admin",
                      "revoke_founding"]
RestrictableLiteral = Literal["forward", "red_envelopes", "create_group"]


class SanctionCreate(BaseModel):
    subject_type: SubjectLiteral
    subject_id: Id
    kind: KindLiteral
    reason: str = Field(min_length=1, max_length=2000)
    duration_seconds: Annotated[int, Field(ge=1, le=MAX_DURATION_SECONDS)] | None = None
    group_id: Id | None = Field(None, description="mute: the group; suspend_admin: one group "
                                "(omit for all)")
    functions: list[RestrictableLiteral] | None = Field(None, max_length=3,
                                                        description="restrict only")
    rule: str | None = Field(None, max_length=64)
    review_item_id: Id | None = None
    message_id: Id | None = None
    skip_warning_reason: str | None = Field(
        None, max_length=2000, description="EC-8: why a suspension or blacklist skips the "
        "warning when the subject has no earlier sanction")
    credit_delta: Annotated[int, Field(ge=-1000, le=-1)] | None = Field(
        None, description="lower_credit only: how much to lower (default -20)")


class LiftIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class SanctionPublic(BaseModel):
    """A member's view of a sanction (the officers involved are not named)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    subject_type: str
    subject_id: int
    kind: str
    functions: list[str]
    group_id: int | None
    starts_at: datetime
    ends_at: datetime | None
    reason: str
    rule: str | None
    automated: bool
    credit_delta: int
    lifted_at: datetime | None
    lift_reason: str | None
    overturned_at: datetime | None
    created_at: datetime
    active: bool


class SanctionOfficerView(SanctionPublic):
    review_item_id: int | None
    imposed_by: int
    lifted_by: int | None


class NextStepPublic(BaseModel):
    subject_type: str
    subject_id: int
    kind: str | None
    previous: list[int]
    explanation: str


class ContributionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    cause: str
    delta: int
    decayed: float
    created_at: datetime
    reversed_at: datetime | None
    sanction_id: int | None
    review_item_id: int | None
    note: str | None


class CreditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject_type: str
    subject_id: int
    base: int
    score: int
    half_life_days: float
    contributions: list[ContributionPublic]


class AppealCreate(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class AppealDecide(BaseModel):
    outcome: Literal["upheld", "overturned"]
    reason: str = Field(min_length=1, max_length=1500)


class AppealPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    statement_id: int
    status: str
    text: str
    decision_reason: str | None
    created_at: datetime
    decided_at: datetime | None


class StatementPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    measure: str
    sanction_id: int | None
    message_id: int | None
    review_item_id: int | None
    group_id: int | None
    scope: str
    starts_at: datetime
    ends_at: datetime | None
    facts: str
    rule: str | None
    automated: bool
    redress: str
    appeal_deadline: datetime
    created_at: datetime
    appeal: AppealPublic | None = None


class AppealOfficerView(AppealPublic):
    appellant_id: int
    decided_by: int | None
    original_decider: int | None
    statement: StatementPublic
