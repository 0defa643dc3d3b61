"""Request and response bodies of red envelopes. Amounts are integer fen (StrictInt: no
floats, no strings); the API never takes a fractional amount."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from qunguan.envelopes.models import Split

# A bound any setting could hold: the setting's own limit is checked by the action, with
# its documented error; this one only keeps absurd numbers away from the database.
MAX_AMOUNT = 2**62
MAX_ID = 2**63 - 1  # as kernel.ids (schemas import nothing of the kernel)
Fen = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT)]


class TopupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: Fen


class WalletPublic(BaseModel):
    balance_fen: int
    balance_yuan: str
    provider: str
    sandbox: bool


class EnvelopeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total_fen: Fen
    parts: Annotated[StrictInt, Field(ge=1, le=10_000)]
    split: Split = Split.LUCKY
    recipient_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = None


class ClaimPublic(BaseModel):
    envelope_id: int
    account_id: int
    amount_fen: int
    claimed_at: datetime


class ClaimLine(BaseModel):
    account_id: int
    display_name: str
    amount_fen: int
    claimed_at: datetime


class EnvelopePublic(BaseModel):
    id: int
    group_id: int
    sender_id: int
    sender_name: str
    recipient_id: int | None
    split: str
    total_fen: int
    total_yuan: str
    parts: int
    remaining_parts: int
    status: str
    created_at: datetime
    expires_at: datetime
    refunded_fen: int
    provider: str
    sandbox: bool
    claims: list[ClaimLine]
    election_id: int | None = None
    hold_reason: str | None = None  # English
    hold_reason_zh: str | None = None  # Chinese (none on envelopes held before it was kept)


def _iso_text(value: object) -> object:
    if not isinstance(value, str | datetime):
        raise ValueError("an ISO 8601 date and time with a time zone")
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text)]  # never a number of seconds


class ExportIn(BaseModel):
    """A discipline inspection or police request (PAY-5): which envelopes, in which format."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["json", "csv"] = "json"
    request_reference: str = Field(min_length=1, max_length=200,
                                   description="The request this export answers (its number)")
    since: Moment | None = None
    until: Moment | None = None
    group_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = None
    sender_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = None
    election_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = None


class LimitIn(BaseModel):
    """An officer's limit for one group: the most one envelope may hold there, and why."""

    model_config = ConfigDict(extra="forbid")
    max_fen: Fen
    reason: str = Field(min_length=1, max_length=2000)


class LimitClear(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class LimitsPublic(BaseModel):
    """A group's red-envelope limits. ``max_fen`` applies (the strictest of the default, the
    category's and the group's own); ``source`` says which: default, strict_category,
    category or group. Who set the group's own and why: officers only."""

    group_id: int
    category: str
    max_fen: int
    max_yuan: str
    source: Literal["default", "strict_category", "category", "group"]
    ceiling_fen: int
    default_max_fen: int
    category_max_fen: int | None
    group_max_fen: int | None
    group_reason: str | None = None
    group_set_by: int | None = None
    group_set_at: datetime | None = None
    daily_max_fen: int
    max_parts: int
