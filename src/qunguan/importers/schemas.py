"""API shapes of archive imports and their events (officers). Personal data is masked
before it gets here (``masking.py``): these shapes carry no legal name, ID or phone number."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ArchiveImportPublic(BaseModel):
    id: int
    files: list[str] = Field(description="File names as imported (phone-like numbers masked)")
    format: str = Field(description="The --format asked for (auto: detected per file)")
    status: str = Field(description="open (loading, or it crashed), complete, stopped "
                        "(--strict met an unreadable place)")
    events: int
    errors: int = Field(description="Unreadable places reported while loading")
    digest: str = Field(description="The hash chain's end (SHA-256, hex)")
    chain_version: int = Field(description="2: commits to content hashes (purged content "
                               "still verifies); 1: imports before migration 0013")
    acting_id: int
    started_at: datetime
    finished_at: datetime | None


class ArchiveImportPage(BaseModel):
    items: list[ArchiveImportPublic]
    next_before_id: int | None


class ArchivedEventPublic(BaseModel):
    seq: int
    kind: str
    external_id: str = Field(description="The export's message id (resident ID, bank card "
                             "and mobile numbers masked)")
    group: str = Field(description="The export's chat id (phone-like numbers masked)")
    sender: str = Field(description="The export's sender id (phone-like numbers masked)")
    occurred_at: datetime
    imported_at: datetime
    text: str | None = Field(description="What was said, with resident ID, bank card and "
                             "phone-like numbers masked; null once retention purged it")
    amount_fen: int | None
    payload: dict[str, Any] = Field(description="The neutral JSON event, masked the same way "
                                    "(without text, wish and items once purged)")
    digest: str = Field(description="The chain's link at this event")
    content_sha256: str | None = Field(description="SHA-256 of the event's content (chain 2; "
                                       "chain 1: set when retention purged it)")
    purged_at: datetime | None


class ArchivedEventPage(BaseModel):
    items: list[ArchivedEventPublic]
    next_after_seq: int | None
