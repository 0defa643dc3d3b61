"""Tables of archives loaded into qunguan (``qunguan audit --import-into``): one row per
import, one per event, each event carrying the running SHA-256 chain of the import up to it,
so the history an institution brings along stays evidence (the chain's end is in the audit
record of the import).

Chain 1 (imports before migration 0013) hashes each event's whole neutral JSON; chain 2
hashes the event without its content (text, wish, chat-record items) plus the SHA-256 of that
content, kept in ``content_sha256``, so that retention can remove the content and the chain
still verifies (docs/audit.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime

MAX_FIELD = 200  # ids, groups and senders: longer ones are cut to the column's length


class ArchiveImport(Base):
    __tablename__ = "archive_imports"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    acting_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    files: Mapped[list[str]] = mapped_column(JSON, default=list)
    format: Mapped[str] = mapped_column(String(32))
    events: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    digest: Mapped[str] = mapped_column(String(64))  # the chain so far
    status: Mapped[str] = mapped_column(String(16))  # open, complete, stopped
    chain_version: Mapped[int] = mapped_column(Integer, default=2)  # 1: before 0013


class ArchivedEvent(Base):
    """An event of an imported archive, as the importer read it (``payload``: the neutral
    JSON form). Never updated, except by retention, which removes its content (``text``
    emptied, the content fields left out of ``payload``) and sets ``purged_at``."""

    __tablename__ = "archived_events"
    __table_args__ = (
        UniqueConstraint("import_id", "seq"),
        Index("ix_archived_events_group_time", "group_key", "occurred_at"),
        Index("ix_archived_events_imported_at", "imported_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    import_id: Mapped[int] = mapped_column(IdType, ForeignKey("archive_imports.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(MAX_FIELD))
    group_key: Mapped[str] = mapped_column(String(MAX_FIELD))
    sender: Mapped[str] = mapped_column(String(MAX_FIELD))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    # When the event came into qunguan's keeping: retention counts from here, not from
    # occurred_at (an archive brought along may be years old on the day it arrives).
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Chain 2: SHA-256 of the event's content, the part retention removes (set at import);
    # chain 1: set by retention, the SHA-256 of the whole payload it removed.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
