"""API shapes of reports, the review queue and emergency mode."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from qunguan.enforcement.models import (
    Decision,
    ItemSource,
    ItemStatus,
    ReportReason,
    SanctionKind,
    SubjectType,
)
from qunguan.groups import Category
from qunguan.kernel.restrictions import Function

MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
# Long enough for any real suspension; bounded so a huge number answers 422, not a 500.
Seconds = Annotated[int, Field(ge=1, le=10 * 365 * 24 * 3600)]


class ReportCreate(BaseModel):
    subject_type: SubjectType
    subject_id: Id
    reason: ReportReason
    note: str | None = Field(None, max_length=2000)
    good_faith: bool = Field(True, description="The reporter states the report is made in good "
                             "faith and believed accurate (CR-3)")


class ReportReceipt(BaseModel):
    id: int
    subject_type: str
    subject_id: int
    reason: str
    good_faith: bool
    status: str
    created_at: datetime
    next_steps: str = Field(description="What happens next, or the outcome once decided")
    outcome: str | None = Field(description="upheld | not_upheld, once decided")
    decided_at: datetime | None


class SanctionIn(BaseModel):
    kind: SanctionKind
    duration_seconds: Seconds | None = None
    functions: list[Function] = Field(default_factory=list, max_length=8)
    group_id: Id | None = None
    subject: SubjectType | None = Field(None, description="account (default for messages and "
                                        "members) or group (the item's group)")
    skip_warning_reason: str | None = Field(None, max_length=2000)


class DecisionIn(BaseModel):
    decision: Decision
    reason: Reason
    sanction: SanctionIn | None = None
    debunk_id: Id | None = Field(None, description="with decision=label: the debunk the "
                                 "message repeats (default: the bank's best match)")
    learn: bool = Field(True, description="with decision=label: make the message's text a "
                        "phrasing of the debunk")


class ReviewItemPublic(BaseModel):
    id: int
    source: ItemSource
    subject_type: SubjectType
    subject_id: int
    group_id: int | None
    severity: int
    rules: list[dict[str, Any]]
    automated: bool
    status: ItemStatus
    claimed_by: int | None
    claim_expires_at: datetime | None
    decided_by: int | None
    decision: str | None
    decision_reason: str | None
    created_at: datetime
    decided_at: datetime | None


class ItemReport(BaseModel):
    id: int
    reporter_id: int
    reporter_display_name: str
    reason: str
    note: str | None
    good_faith: bool
    status: str
    created_at: datetime


class ReviewItemDetail(BaseModel):
    item: ReviewItemPublic
    reports: list[ItemReport]
    message: dict[str, Any] | None = Field(description="The subject message (display names "
                                           "only)")
    context: list[dict[str, Any]] = Field(description="Messages around it in its group, "
                                          "oldest first")
    account: dict[str, Any] | None
    group: dict[str, Any] | None


class FreezeIn(BaseModel):
    group_id: Id | None = None
    category: Category | None = None
    reason: Reason
    duration_seconds: Seconds | None = None


class UnfreezeIn(BaseModel):
    group_id: Id | None = None
    category: Category | None = None
    reason: Reason


class FreezeOut(BaseModel):
    group_ids: list[int]
    sanction_ids: list[int]
    already_frozen: list[int]


class PurgeIn(BaseModel):
    message_id: Id | None = None
    fingerprint: str | None = Field(None, min_length=1, max_length=64)
    reason: Reason


class PurgeOut(BaseModel):
    fingerprint: str
    message_ids: list[int]
    group_ids: list[int]
    copies: int
    groups: int
