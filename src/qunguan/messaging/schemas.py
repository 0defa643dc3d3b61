"""API shapes of messaging."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

# Ids are BIGINT on PostgreSQL and INTEGER (64-bit) on SQLite: a larger number would fail in
# the database driver (a 500) instead of answering invalid_request.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class MessageCreate(BaseModel):
    # No max_length here: the limit is a setting and answers message_too_long.
    text: str
    reply_to_id: Id | None = None
    mentions: list[Id] = Field(default_factory=list)
    confirm: bool = Field(False, description="Acknowledge a screening prompt and send anyway")


class ForwardIn(BaseModel):
    group_ids: list[Id]
    confirm: bool = False


class DeleteIn(BaseModel):
    reason: str | None = Field(None, max_length=500)


class SenderPublic(BaseModel):
    id: int
    display_name: str
    avatar_text: str | None
    role: str
    badge: str | None


class MessagePublic(BaseModel):
    id: int
    group_id: int
    sender: SenderPublic
    text: str | None = Field(description="None once recalled or removed")
    recalled: bool
    reply_to_id: int | None
    mentions: list[int]
    origin_id: int = Field(description="First message of the forwarding chain")
    parent_id: int | None = Field(description="The message this copy was forwarded from")
    hop: int
    fingerprint: str
    forwards: int = Field(description="Exact forwards of the origin, server-counted (CR-5)")
    status: str
    labels: list[dict[str, Any]]
    created_at: datetime


class MessagePage(BaseModel):
    items: list[MessagePublic]
    next_cursor: str | None
