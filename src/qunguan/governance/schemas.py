"""API shapes of legal holds, the retention report, unmasking requests and case export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from qunguan.governance.models import HoldScope

MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]


class HoldCreate(BaseModel):
    scope: HoldScope = Field(description="case (a review item), group or account")
    scope_id: Id
    reason: Reason


class HoldLift(BaseModel):
    reason: Reason


class HoldPublic(BaseModel):
    id: int
    scope: str
    scope_id: int
    reason: str
    placed_by: int
    placed_at: datetime
    lifted_by: int | None
    lifted_at: datetime | None
    lift_reason: str | None


class KindReport(BaseModel):
    kind: str
    retention_days: int
    setting: str
    cutoff: datetime
    due_now: int = Field(description="Rows past retention and not held: the next purge takes "
                         "them")
    held_past_retention: int = Field(description="Rows past retention kept by a legal hold, "
                                     "an open case or an open appeal")
    next_due_at: datetime | None = Field(description="When the oldest row not yet due falls "
                                         "due (null: none waiting)")
    purged_so_far: int


class HeldPublic(BaseModel):
    id: int
    scope: str
    scope_id: int
    reason: str
    placed_by: int
    placed_at: datetime
    covers: dict[str, Any]


class RetentionReport(BaseModel):
    generated_at: datetime
    regulated_archive: bool
    kinds: list[KindReport]
    holds: list[HeldPublic]
    open_cases: list[int]


class UnmaskCreate(BaseModel):
    case_id: Id = Field(description="The case (review item) the unmasking serves")
    reason: Reason
    account_id: Id | None = Field(None, description="The account to unmask; or cluster_id")
    cluster_id: Id | None = Field(None, description="A content cluster whose first originator "
                                  "is to be unmasked; or account_id")


class UnmaskDecision(BaseModel):
    note: str | None = Field(None, max_length=2000)


class UnmaskRejection(BaseModel):
    note: Reason


class UnmaskPublic(BaseModel):
    id: int
    account_id: int
    basis: str
    cluster_id: int | None
    case_id: int
    reason: str
    status: str
    requested_by: int
    requested_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    decision_note: str | None
    reveal_until: datetime | None
    revealed_at: datetime | None


class UnmaskedIdentity(BaseModel):
    """Vault path only: the requester's one read of an approved unmasking."""

    request_id: int
    account_id: int
    legal_name: str | None
    id_number: str | None


class CaseExport(BaseModel):
    bundle: dict[str, Any] = Field(description="The case bundle (docs/retention.md)")
    report_html: str = Field(description="The readable HTML report; its SHA-256 is "
                             "bundle.digests.report_html")
