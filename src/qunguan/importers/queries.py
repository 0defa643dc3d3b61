"""Reads of archive imports (officers, and the operator's CLI with ``viewer`` None): the
imports newest first, one import, its events by sequence number, and the chain check
(``verify_import``; ``actions`` re-exports it).

Officer reads of archived events are not audited, like their reads of messages, review
items and audit records: the project audits reads of the identity vault (VAULT_READ) and
exports of content out of it (CASE_EXPORTED, ENVELOPES_EXPORTED, AUDITLOG_EXPORTED), and
archived events are pseudonymous content, not the vault."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.importers import jsonl
from qunguan.importers.chain import CHAIN_VERSION, GENESIS, content_of, content_sha256, link
from qunguan.importers.common import BadRecord
from qunguan.importers.events import ArchiveEvent, iso_utc
from qunguan.importers.models import MAX_FIELD, ArchivedEvent, ArchiveImport
from qunguan.kernel.db import newest_first
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.uow import UnitOfWork

MAX_PAGE = 500


def _authorise(viewer: Account | None) -> None:
    if viewer is not None:
        identity_queries.require_officer(viewer)


def list_imports(uow: UnitOfWork, *, viewer: Account | None, before_id: int | None = None,
                 limit: int = 50) -> tuple[list[ArchiveImport], int | None]:
    """Newest first; the page and the ``before_id`` of the next one."""
    _authorise(viewer)
    return newest_first(uow.session, select(ArchiveImport), ArchiveImport.id,
                        before_id=before_id, limit=limit, max_page=MAX_PAGE)


def access_import(uow: UnitOfWork, *, viewer: Account | None, import_id: int) -> ArchiveImport:
    _authorise(viewer)
    row = uow.session.get(ArchiveImport, import_id)
    if row is None:
        raise QunguanError("not_found", "No such archive import.", import_id=import_id)
    return row


def list_events(uow: UnitOfWork, *, viewer: Account | None, import_id: int,
                after_seq: int = 0, limit: int = 100) -> tuple[list[ArchivedEvent], int | None]:
    """The import's events in sequence order after ``after_seq``; the page and the
    ``after_seq`` of the next one (None on the last page)."""
    access_import(uow, viewer=viewer, import_id=import_id)
    limit = max(1, min(limit, MAX_PAGE))
    rows = list(uow.session.scalars(
        select(ArchivedEvent).where(ArchivedEvent.import_id == import_id,
                                    ArchivedEvent.seq > after_seq)
        .order_by(ArchivedEvent.seq).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more and rows else None)


def verify(uow: UnitOfWork, *, viewer: Account | None, import_id: int) -> Verification:
    """Recompute the import's hash chain from its stored events (``not_found`` if unknown)."""
    access_import(uow, viewer=viewer, import_id=import_id)
    return verify_import(uow, import_id)


# --- the chain check ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """``ok``, or the first event that does not verify (``first_bad_seq``; None when the
    events verify but the chain's end does not match the import or its audit record) and
    ``problem`` in words. ``purged``: events whose content retention removed, verified by
    their content hash (chain 2) or, for chain 1, taken as stored (``unverifiable``)."""

    ok: bool
    events: int
    digest: str
    first_bad_seq: int | None = None
    problem: str = ""
    purged: int = 0
    unverifiable: int = 0
    chain_version: int = CHAIN_VERSION
    recorded_digest: str | None = None  # the digest in the import's last audit record


def event_columns(event: ArchiveEvent) -> dict[str, Any]:
    """The columns an archived event's row copies from its event, for queries (ids, groups
    and senders cut to the columns' length): what the import writes and the check expects."""
    return {"kind": event.kind, "external_id": event.id[:MAX_FIELD],
            "group_key": event.group[:MAX_FIELD], "sender": event.sender[:MAX_FIELD],
            "occurred_at": event.ts, "text": event.content, "amount_fen": event.amount_fen}


def _columns_problem(row: ArchivedEvent) -> str | None:
    """The row's columns are copies of its payload; a copy that differs was changed after the
    import."""
    try:
        event = jsonl.parse(row.payload)
    except BadRecord as exc:
        return f"its chained payload is not a readable event ({exc})"
    expected = event_columns(event)
    if row.purged_at is not None:
        expected["text"] = ""
    for column, value in expected.items():
        stored = getattr(row, column)
        if (iso_utc(stored) != iso_utc(value)) if column == "occurred_at" else stored != value:
            return f"its {column} column differs from its chained payload"
    return None


def recorded_digest(uow: UnitOfWork, import_id: int) -> str | None:
    """The chain digest in the import's latest batch or closing audit record (records are
    in the tamper-evident log); None when there is none or retention purged its content."""
    extra = uow.session.scalar(
        select(AuditRecord.extra).where(
            AuditRecord.subject_type == "archive_import",
            AuditRecord.subject_id == str(import_id),
            AuditRecord.event_type.in_([int(EventType.ARCHIVE_BATCH_IMPORTED),
                                        int(EventType.ARCHIVE_IMPORTED)]))
        .order_by(AuditRecord.id.desc()).limit(1))
    digest = extra.get("digest") if isinstance(extra, dict) else None
    return digest if isinstance(digest, str) else None


def verify_import(uow: UnitOfWork, import_id: int) -> Verification:
    """Recompute the chain over the stored events: any changed, removed or reordered event
    breaks it at its place; the end must match the import's digest and the digest of its
    latest audit record. Raises ``not_found`` for an unknown import."""
    archive = uow.session.get(ArchiveImport, import_id)
    if archive is None:
        raise QunguanError("not_found", "No such archive import.", import_id=import_id)
    version = archive.chain_version
    recorded = recorded_digest(uow, import_id)
    digest = GENESIS
    count = purged = unverifiable = 0
    expected = 1

    def fail(seq: int | None, problem: str) -> Verification:
        return Verification(False, count, digest, seq, problem, purged, unverifiable, version,
                            recorded)

    rows = uow.session.scalars(select(ArchivedEvent).where(ArchivedEvent.import_id == import_id)
                               .order_by(ArchivedEvent.seq)).yield_per(1000)
    for row in rows:
        if row.seq != expected:
            return fail(expected, f"event {expected} is missing (the next stored is "
                        f"{row.seq})" if row.seq > expected else f"event {row.seq} is out of "
                        "order")
        payload = row.payload
        is_purged = row.purged_at is not None
        if is_purged:
            purged += 1
            if content_of(payload):
                return fail(row.seq, "it is marked purged but still holds content")
            if row.content_sha256 is None:
                return fail(row.seq, "it is marked purged but has no content hash")
        if version == 1 and is_purged:
            # Chain 1 hashed the whole payload, which is gone: the stored link stands (the
            # next event's link still proves it); see docs/audit.md.
            unverifiable += 1
            step = row.digest
        else:
            content_hash = None
            if version != 1:
                content_hash = row.content_sha256 if is_purged else content_sha256(payload)
                if not is_purged and row.content_sha256 != content_hash:
                    return fail(row.seq, "its content does not match its content hash")
            step = link(version, digest, payload, content_hash)
        if step != row.digest:
            return fail(row.seq, "its chain link does not match (the event, or one before "
                        "it, was changed)")
        problem = _columns_problem(row)
        if problem is not None:
            return fail(row.seq, problem)
        digest = step
        count += 1
        expected += 1
    if count != archive.events:
        return fail(expected, f"{archive.events - count} event(s) missing at the end (the "
                    f"import holds {archive.events})")
    if digest != archive.digest:
        return fail(None, "the chain's end differs from the import's digest")
    if recorded is not None and recorded != digest:
        return fail(None, "the chain's end differs from the digest in the import's audit "
                    "record")
    return Verification(True, count, digest, None, "", purged, unverifiable, version, recorded)
