"""Archive imports API (officers): the imports loaded with `qunguan audit --import-into`,
newest first, and the events of one, by sequence number, with personal data masked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qunguan.identity import CurrentAccount
from qunguan.importers import queries
from qunguan.importers.masking import mask, mask_payload, mask_personal
from qunguan.importers.models import ArchivedEvent, ArchiveImport
from qunguan.importers.schemas import (
    ArchivedEventPage,
    ArchivedEventPublic,
    ArchiveImportPage,
    ArchiveImportPublic,
)
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.web import IdPath, UowDep

router = APIRouter(prefix="/api/officer", tags=["archive imports"])

OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _import(row: ArchiveImport) -> ArchiveImportPublic:
    return ArchiveImportPublic(
        id=row.id, files=[mask_personal(f) for f in row.files], format=row.format,
        status=row.status, events=row.events, errors=row.errors, digest=row.digest,
        chain_version=row.chain_version, acting_id=row.acting_id, started_at=row.started_at,
        finished_at=row.finished_at)


def _event(row: ArchivedEvent) -> ArchivedEventPublic:
    return ArchivedEventPublic(
        seq=row.seq, kind=row.kind, external_id=mask(row.external_id),
        group=mask_personal(row.group_key), sender=mask_personal(row.sender),
        occurred_at=row.occurred_at, imported_at=row.imported_at,
        text=None if row.purged_at is not None else mask_personal(row.text),
        amount_fen=row.amount_fen, payload=mask_payload(row.payload), digest=row.digest,
        content_sha256=row.content_sha256, purged_at=row.purged_at)


@router.get("/archive-imports", response_model=ArchiveImportPage)
def list_archive_imports(uow: UowDep, me: CurrentAccount, before_id: OptionalId = None,
                         limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50
                         ) -> ArchiveImportPage:
    rows, next_before = queries.list_imports(uow, viewer=me, before_id=before_id, limit=limit)
    return ArchiveImportPage(items=[_import(r) for r in rows], next_before_id=next_before)


@router.get("/archive-imports/{import_id}/events", response_model=ArchivedEventPage)
def list_archived_events(import_id: IdPath, uow: UowDep, me: CurrentAccount,
                         after_seq: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
                         limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 100
                         ) -> ArchivedEventPage:
    rows, next_after = queries.list_events(uow, viewer=me, import_id=import_id,
                                           after_seq=after_seq, limit=limit)
    return ArchivedEventPage(items=[_event(r) for r in rows], next_after_seq=next_after)
