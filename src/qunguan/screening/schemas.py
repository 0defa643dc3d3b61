"""API shapes of screening (officers only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class RulePublic(BaseModel):
    id: str
    description: str
    action: str
    severity: int
    mode: str
    stage: str
    match: str
    detectors: list[str]
    conditions: list[dict[str, Any]]
    scope: dict[str, Any]
    reason_zh: str
    reason_en: str
    file: str
    line: int


class PolicyPublic(BaseModel):
    version: int
    name: str
    description: str
    digest: str
    loaded_at: datetime | None
    loaded_by: int | None
    lexicons: dict[str, int]
    rules: list[RulePublic]


class PolicyVersionPublic(BaseModel):
    version: int
    name: str
    description: str
    digest: str
    rule_count: int
    active: bool
    loaded_at: datetime
    loaded_by: int


class HitPublic(BaseModel):
    id: int
    message_id: int | None
    group_id: int
    account_id: int
    pack_version: int
    rule_id: str
    mode: str
    action: str
    severity: int
    detector: str
    stage: str
    signals: list[dict[str, Any]]
    created_at: datetime


class HitPage(BaseModel):
    items: list[HitPublic]
    next_before_id: int | None
