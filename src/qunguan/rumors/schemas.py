"""API shapes of the debunk bank (officers only)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

MAX_ID = 2**63 - 1  # kernel.ids.MAX_ID; schemas import nothing of ours

VerdictName = Literal["false", "misleading", "unverified", "true"]
Version = Annotated[int, Field(ge=1, le=MAX_ID)]


class DebunkCreate(BaseModel):
    claim: str = Field(max_length=2000, description="The claim as it circulates.")
    verdict: VerdictName
    refutation: str = Field(max_length=4000, description="The facts, shown on the card.")
    publisher: str = Field(max_length=200, description="Who published the debunk.")
    source_url: str | None = Field(None, max_length=500)
    published_on: date | None = None
    language: str = Field("zh", max_length=16)


class DebunkUpdate(BaseModel):
    """Only the fields given change; ``expected_version`` refuses the edit (409 conflict) when
    someone changed the entry since it was read."""

    claim: str | None = Field(None, max_length=2000)
    verdict: VerdictName | None = None
    refutation: str | None = Field(None, max_length=4000)
    publisher: str | None = Field(None, max_length=200)
    source_url: str | None = Field(None, max_length=500)
    published_on: date | None = None
    language: str | None = Field(None, max_length=16)
    expected_version: Version | None = None


class DebunkRetire(BaseModel):
    reason: str = Field(max_length=500)
    expected_version: Version | None = None


class DebunkImport(BaseModel):
    format: Literal["csv", "jsonl"]
    content: str = Field(max_length=1_000_000, description="The file's text: CSV with a "
                         "header row, or JSONL (one object a line).")
    source: str | None = Field(None, max_length=200, description="A name for the record, "
                               "e.g. the file name.")


class PhrasingCreate(BaseModel):
    text: str = Field(max_length=1000, description="Another form of the claim as it "
                      "circulates; matched like the claim.")
    expected_version: Version | None = None


class PhrasingRetire(BaseModel):
    reason: str = Field(max_length=500)


class PhrasingPublic(BaseModel):
    id: int
    text: str
    source: str = Field(description="officer | review | import")
    message_id: int | None = Field(description="the message a reviewer confirmed (review)")
    added_at: datetime
    added_by: int


class DebunkPublic(BaseModel):
    id: int
    claim: str
    verdict: str
    refutation: str
    publisher: str
    source_url: str | None
    published_on: date | None
    language: str
    status: str
    version: int
    added_at: datetime
    added_by: int
    updated_at: datetime
    updated_by: int
    card: dict[str, Any]
    phrasings: list[PhrasingPublic] = Field(
        default_factory=list, description="Active phrasings, oldest first.")


class DebunkPage(BaseModel):
    items: list[DebunkPublic]
    next_before_id: int | None


class ImportResultPublic(BaseModel):
    rows: int
    imported: int
    ids: list[int]
    duplicates: list[dict[str, Any]]
    phrasings_skipped: list[dict[str, Any]]


# --- content clusters and the circuit breaker ------------------------------------------------


class ClusterPublic(BaseModel):
    id: int
    first_message_id: int
    first_group_id: int
    first_seen_at: datetime
    last_seen_at: datetime
    messages: int
    groups_reached: int
    # Sum of the member counts of the groups reached, each taken when the cluster first
    # reached it: how many people could have seen it (one in two groups counts twice).
    members_exposed: int
    depth: int
    groups_first_hour: int  # speed: groups reached within an hour of the first message
    breaker_state: str
    breaker_max_targets: int | None
    breaker_changed_at: datetime | None
    exempt_debunk_id: int | None


class ClusterPage(BaseModel):
    items: list[ClusterPublic]
    next_offset: int | None


class ClusterNode(BaseModel):
    message_id: int
    group_id: int
    group_name: str
    sender_display_name: str
    created_at: datetime
    hop: int
    parent_id: int | None  # forwarded from this message
    copy_of_id: int | None  # inferred copy (same or near-identical text) of this message
    new_group: bool  # this message brought the cluster to its group


class ClusterDetail(BaseModel):
    cluster: ClusterPublic
    nodes: list[ClusterNode]
    truncated: bool


class BreakerSet(BaseModel):
    state: Literal["tripped", "lifted"]
    max_targets: int | None = Field(default=None, ge=1, le=1000)
    reason: str = Field(min_length=1, max_length=500)


class CorrectionPublic(BaseModel):
    debunk_id: int
    notified_at: datetime
    notified_version: int  # the debunk's version when the member was told
    card: dict[str, Any]  # as the debunk reads now
    withdrawn: bool  # an officer has retired the debunk since


class CorrectionPage(BaseModel):
    items: list[CorrectionPublic]
    total: int
