"""Loading archives into qunguan (``qunguan audit --import-into``): an import is opened,
filled batch by batch (one transaction, one audit record and one outbox event per batch, so
a large archive never holds one huge transaction and a crash loses at most the batch in
flight), and closed with the chain digest of every event in its audit record."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import func, select

from qunguan.identity import Account
from qunguan.importers.events import ArchiveEvent, to_json
from qunguan.importers.models import ArchivedEvent, ArchiveImport
from qunguan.kernel.events import EventType
from qunguan.kernel.uow import UnitOfWork, record_audit

GENESIS = "0" * 64
MAX_FIELD = 200


def chain(previous: str, row: dict[str, object]) -> str:
    """The next link: SHA-256 of the previous digest and the event's canonical JSON."""
    canonical = json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(previous.encode() + b"\n" + canonical.encode("utf-8")).hexdigest()


def do_start_import(uow: UnitOfWork, *, acting: Account, files: list[str],
                    fmt: str) -> ArchiveImport:
    row = ArchiveImport(acting_id=acting.id, started_at=uow.now(), files=files, format=fmt,
                        events=0, errors=0, digest=GENESIS, status="open")
    uow.session.add(row)
    uow.session.flush()
    record_audit(uow, EventType.ARCHIVE_IMPORT_STARTED, acting=acting,
                 subject_type="archive_import", subject_id=row.id,
                 extra={"files": files, "format": fmt})
    uow.emit(EventType.ARCHIVE_IMPORT_STARTED, import_id=row.id)
    return row


def do_import_batch(uow: UnitOfWork, *, acting: Account, archive: ArchiveImport,
                    events: list[ArchiveEvent], errors: int) -> None:
    """Append events to an open import, extending its chain."""
    if archive.status != "open":
        raise ValueError(f"archive import {archive.id} is {archive.status}")
    digest = archive.digest
    first = archive.events + 1
    for seq, event in enumerate(events, first):
        payload = to_json(event)
        digest = chain(digest, payload)
        uow.session.add(ArchivedEvent(
            import_id=archive.id, seq=seq, kind=event.kind,
            external_id=event.id[:MAX_FIELD], group_key=event.group[:MAX_FIELD],
            sender=event.sender[:MAX_FIELD], occurred_at=event.ts, text=event.content,
            amount_fen=event.amount_fen, payload=payload, digest=digest))
    archive.events += len(events)
    archive.errors += errors
    archive.digest = digest
    record_audit(uow, EventType.ARCHIVE_BATCH_IMPORTED, acting=acting,
                 subject_type="archive_import", subject_id=archive.id,
                 extra={"first_seq": first, "last_seq": archive.events, "digest": digest,
                        "unreadable": errors})
    uow.emit(EventType.ARCHIVE_BATCH_IMPORTED, import_id=archive.id, events=len(events))


def do_finish_import(uow: UnitOfWork, *, acting: Account, archive: ArchiveImport,
                     stopped: bool = False) -> None:
    archive.status = "stopped" if stopped else "complete"
    archive.finished_at = uow.now()
    record_audit(uow, EventType.ARCHIVE_IMPORTED, acting=acting,
                 subject_type="archive_import", subject_id=archive.id,
                 extra={"events": archive.events, "unreadable": archive.errors,
                        "digest": archive.digest, "status": archive.status,
                        "files": archive.files})
    uow.emit(EventType.ARCHIVE_IMPORTED, import_id=archive.id, events=archive.events)


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    digest: str
    first_bad_seq: int | None = None


def verify_import(uow: UnitOfWork, import_id: int) -> Verification:
    """Recompute the chain over the stored events: any changed, removed or reordered event
    breaks it at its place."""
    archive = uow.session.get(ArchiveImport, import_id)
    if archive is None:
        raise LookupError(f"no archive import {import_id}")
    digest = GENESIS
    count = 0
    expected = 1
    rows = uow.session.execute(select(ArchivedEvent.seq, ArchivedEvent.payload,
                                      ArchivedEvent.digest)
                               .where(ArchivedEvent.import_id == import_id)
                               .order_by(ArchivedEvent.seq)).yield_per(1000)
    for seq, payload, stored in rows:
        digest = chain(digest, payload)
        count += 1
        if seq != expected or digest != stored:
            return Verification(False, count, digest, seq)
        expected += 1
    total = uow.session.scalar(select(func.count()).select_from(ArchivedEvent)
                               .where(ArchivedEvent.import_id == import_id))
    ok = digest == archive.digest and total == archive.events
    return Verification(ok, count, digest, None if ok else expected)
