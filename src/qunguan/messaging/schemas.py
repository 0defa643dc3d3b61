"""API shapes of messaging."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class MessageCreate(BaseModel):
    # No max_length here: the limit is a setting and answers message_too_long.
    text: str
    reply_to_id: int | None = None
    mentions: list[int] = Field(default_factory=list)
    confirm: bool = Field(False, description="Acknowledge a screening prompt and send anyway")


class ForwardIn(BaseModel):
    group_ids: list[int]
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
