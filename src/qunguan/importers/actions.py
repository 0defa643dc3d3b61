"""Loading archives into qunguan (``qunguan audit --import-into``): an import is opened,
filled batch by batch (one transaction, one audit record and one outbox event per batch, so
a large archive never holds one huge transaction and a crash loses at most the batch in
flight), and closed with the chain digest of every event in its audit record (the chain:
``chain.py``). Retention removes an event's content through ``erase_content``."""

from __future__ import annotations

import hashlib
from datetime import datetime

from qunguan.identity import Account
from qunguan.importers.chain import (
    CHAIN_VERSION,
    CONTENT_FIELDS,
    GENESIS,
    canonical,
    chain,
    content_sha256,
    link,
)
from qunguan.importers.events import ArchiveEvent, to_json
from qunguan.importers.masking import mask_personal
from qunguan.importers.models import MAX_FIELD, ArchivedEvent, ArchiveImport
from qunguan.importers.queries import Verification, event_columns, verify_import
from qunguan.kernel.events import EventType
from qunguan.kernel.uow import UnitOfWork, record_audit

# Re-exported: callers and docs name the chain and its check here.
__all__ = ["CHAIN_VERSION", "GENESIS", "MAX_FIELD", "Verification", "chain",
           "do_finish_import", "do_import_batch", "do_start_import", "erase_content",
           "verify_import"]


def do_start_import(uow: UnitOfWork, *, acting: Account, files: list[str],
                    fmt: str) -> ArchiveImport:
    row = ArchiveImport(acting_id=acting.id, started_at=uow.now(), files=files, format=fmt,
                        events=0, errors=0, digest=GENESIS, status="open",
                        chain_version=CHAIN_VERSION)
    uow.session.add(row)
    uow.session.flush()
    record_audit(uow, EventType.ARCHIVE_IMPORT_STARTED, acting=acting,
                 subject_type="archive_import", subject_id=row.id,
                 extra={"files": [mask_personal(f) for f in files], "format": fmt,
                        "chain_version": CHAIN_VERSION})
    uow.emit(EventType.ARCHIVE_IMPORT_STARTED, import_id=row.id)
    return row


def do_import_batch(uow: UnitOfWork, *, acting: Account, archive: ArchiveImport,
                    events: list[ArchiveEvent], errors: int) -> None:
    """Append events to an open import, extending its chain."""
    if archive.status != "open":
        raise ValueError(f"archive import {archive.id} is {archive.status}")
    digest = archive.digest
    first = archive.events + 1
    now = uow.now()
    for seq, event in enumerate(events, first):
        payload = to_json(event)
        content_hash = None if archive.chain_version == 1 else content_sha256(payload)
        digest = link(archive.chain_version, digest, payload, content_hash)
        uow.session.add(ArchivedEvent(
            import_id=archive.id, seq=seq, **event_columns(event), payload=payload,
            digest=digest, imported_at=now, content_sha256=content_hash))
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
                        "files": [mask_personal(f) for f in archive.files]})
    uow.emit(EventType.ARCHIVE_IMPORTED, import_id=archive.id, events=archive.events)


# --- retention ------------------------------------------------------------------------------


def erase_content(row: ArchivedEvent, *, at: datetime) -> str:
    """Remove an event's content for retention (governance's purge worker calls this inside
    its batch, which writes the RETENTION_PURGED record); returns the SHA-256 (hex) of what
    went. Chain 2: the content hash the chain already commits to, so the row still verifies.
    Chain 1: the hash of the whole payload, kept on the row, since its link hashed it all."""
    if row.content_sha256 is None:  # chain 1
        row.content_sha256 = hashlib.sha256(canonical(row.payload)).hexdigest()
    row.payload = {k: v for k, v in row.payload.items() if k not in CONTENT_FIELDS}
    row.text = ""
    row.purged_at = at
    return row.content_sha256
