"""Audit log API: officers read the audit records and their proofs (CN-GIP Art. 11, LR-1,
LR-2); anyone may fetch the signed checkpoints, the verifier keys and consistency proofs, which
reveal the log's size and roots but nothing of a record (QUNGUAN_AUDITLOG_PUBLIC)."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from qunguan.auditlog import queries
from qunguan.auditlog.actions import signing_keys
from qunguan.auditlog.schemas import (
    AuditPage,
    AuditRecordPublic,
    CheckpointPublic,
    ConsistencyProofPublic,
    InclusionProofPublic,
)
from qunguan.identity import CurrentAccount
from qunguan.kernel.events import EventType
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.web import UowDep

router = APIRouter(prefix="/api", tags=["audit log"])

OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
TreeSize = Annotated[int | None, Query(ge=0, le=2**62)]


@router.get("/officer/audit-records", response_model=AuditPage)
def list_audit_records(uow: UowDep, me: CurrentAccount,
                       type: Annotated[str | None, Query(max_length=64)] = None,
                       group_id: OptionalId = None, acting_id: OptionalId = None,
                       before_id: OptionalId = None,
                       limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 100) -> AuditPage:
    rows, next_before = queries.list_records(uow, viewer=me, event_type=type,
                                             group_id=group_id, acting_id=acting_id,
                                             before_id=before_id, limit=limit)
    return AuditPage(items=[AuditRecordPublic(
        id=r.id, type=EventType(r.event_type).name.lower(), type_number=r.event_type,
        occurred_at=r.occurred_at, acting_id=r.acting_id, subject_type=r.subject_type,
        subject_id=r.subject_id, group_id=r.group_id, source_ip=r.source_ip,
        source_port=r.source_port, client_fingerprint=r.client_fingerprint,
        request_id=r.request_id, extra=r.extra) for r in rows], next_before_id=next_before)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@router.get("/officer/auditlog/checkpoint", response_model=CheckpointPublic)
def latest_checkpoint(uow: UowDep, me: CurrentAccount) -> CheckpointPublic:
    cp = queries.latest_checkpoint(uow, viewer=me)
    return CheckpointPublic(id=cp.id, tree_size=cp.tree_size, root_hash=_b64(cp.root_hash),
                            key_id=cp.key_id, note=cp.note, created_at=cp.created_at,
                            verifier_keys=[v.text for v in signing_keys(uow.settings).verifiers()])


@router.get("/officer/audit-records/{record_id}/proof", response_model=InclusionProofPublic)
def record_proof(record_id: Annotated[int, Path(ge=1, le=MAX_ID)], uow: UowDep,
                 me: CurrentAccount, tree_size: TreeSize = None) -> InclusionProofPublic:
    p, cp = queries.record_proof(uow, viewer=me, record_id=record_id, tree_size=tree_size)
    return InclusionProofPublic(record_id=p.record_id, leaf_index=p.leaf_index,
                                tree_size=p.tree_size, leaf=p.leaf.decode(),
                                leaf_hash=_b64(p.leaf_hash), proof=[_b64(h) for h in p.proof],
                                checkpoint=cp.note if cp is not None else None)


@router.get("/officer/auditlog/consistency", response_model=ConsistencyProofPublic)
def consistency_proof(uow: UowDep, me: CurrentAccount,
                      first: Annotated[int, Query(ge=0, le=2**62)],
                      second: TreeSize = None) -> ConsistencyProofPublic:
    a, b, proof = queries.consistency_proof(uow, viewer=me, first=first, second=second)
    return ConsistencyProofPublic(first=a, second=b, proof=[_b64(h) for h in proof])


# --- published: for auditors and witnesses, no login -----------------------------------------

# A poller must always see the newest checkpoint, never a cached one.
_NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/auditlog/checkpoint", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}},
                             "description": "The latest checkpoint as a C2SP signed note."}})
def published_checkpoint(uow: UowDep) -> PlainTextResponse:
    cp = queries.published_checkpoint(uow)
    return PlainTextResponse(cp.note, headers=_NO_CACHE)


@router.get("/auditlog/keys", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Every verifier key, current and rotated, a line "
                                            "each (the note verifier-key format)."}})
def published_keys(uow: UowDep) -> PlainTextResponse:
    queries.require_published(uow)
    text = "".join(v.text + "\n" for v in signing_keys(uow.settings).verifiers())
    return PlainTextResponse(text, headers=_NO_CACHE)


@router.get("/auditlog/consistency", response_model=ConsistencyProofPublic)
def published_consistency(uow: UowDep, first: Annotated[int, Query(ge=0, le=2**62)],
                          second: TreeSize = None) -> ConsistencyProofPublic:
    a, b, proof = queries.published_consistency(uow, first=first, second=second)
    return ConsistencyProofPublic(first=a, second=b, proof=[_b64(h) for h in proof])
