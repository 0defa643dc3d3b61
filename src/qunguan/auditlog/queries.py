"""Reads of the audit records, for officers."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from qunguan.auditlog import leaves
from qunguan.auditlog import log as store
from qunguan.auditlog.models import Checkpoint, LogLeaf, LogState
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.db import newest_first
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.uow import UnitOfWork

MAX_PAGE = 500


def list_records(uow: UnitOfWork, *, viewer: Account, event_type: str | None = None,
                 group_id: int | None = None, acting_id: int | None = None,
                 before_id: int | None = None, limit: int = 100,
                 event_types: Sequence[EventType] | None = None,
                 ) -> tuple[list[AuditRecord], int | None]:
    """Newest first, filtered (``event_types``: any of these); returns the page and the
    ``before_id`` of the next one."""
    identity_queries.require_officer(viewer)
    stmt = select(AuditRecord)
    if event_type is not None:
        try:
            kind = EventType[event_type.upper()]
        except KeyError:
            raise QunguanError("invalid_request", "Unknown event type.", fields=["type"],
                               known=[e.name.lower() for e in EventType]) from None
        stmt = stmt.where(AuditRecord.event_type == int(kind))
    if event_types is not None:
        stmt = stmt.where(AuditRecord.event_type.in_([int(t) for t in event_types]))
    if group_id is not None:
        stmt = stmt.where(AuditRecord.group_id == group_id)
    if acting_id is not None:
        stmt = stmt.where(AuditRecord.acting_id == acting_id)
    return newest_first(uow.session, stmt, AuditRecord.id, before_id=before_id, limit=limit,
                        max_page=MAX_PAGE)


# --- the Merkle log -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordProof:
    """An audit record's leaf and its inclusion proof in the tree of ``tree_size`` leaves."""

    record_id: int
    leaf_index: int
    tree_size: int
    leaf: bytes  # the leaf entry re-derived from the record as stored now
    leaf_hash: bytes  # the hash appended to the log (what the proof proves)
    proof: list[bytes]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (hashes in base64), the shape export.verify_record_proofs reads."""
        return {"record_id": self.record_id, "leaf_index": self.leaf_index,
                "tree_size": self.tree_size, "leaf": self.leaf.decode(),
                "leaf_hash": base64.b64encode(self.leaf_hash).decode(),
                "proof": [base64.b64encode(h).decode() for h in self.proof]}


@dataclass(frozen=True)
class ProofBundle:
    """What a case export needs: the checkpoint and one inclusion proof per record."""

    checkpoint: Checkpoint
    proofs: list[RecordProof]


def _latest(uow: UnitOfWork) -> Checkpoint:
    cp = uow.session.scalar(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1))
    if cp is None:
        raise QunguanError("no_checkpoint", "The audit log has not signed a checkpoint yet.")
    return cp


def _log_size(uow: UnitOfWork) -> int:
    st = uow.session.get(LogState, 1)
    return st.tree_size if st is not None else 0


def latest_checkpoint(uow: UnitOfWork, *, viewer: Account) -> Checkpoint:
    identity_queries.require_officer(viewer)
    return _latest(uow)


def require_published(uow: UnitOfWork) -> None:
    if not uow.settings.auditlog_public:
        raise QunguanError("not_found", "Not found.")


def published_checkpoint(uow: UnitOfWork) -> Checkpoint:
    """The latest signed checkpoint for anyone who asks (an auditor or a witness polling the
    log): it holds a size, a root hash and a signature, nothing of any record."""
    require_published(uow)
    return _latest(uow)


def published_consistency(uow: UnitOfWork, *, first: int, second: int | None = None
                          ) -> tuple[int, int, list[bytes]]:
    """The consistency proof between two tree sizes for anyone who asks: with it an auditor
    who kept an older checkpoint checks that the newer one only appended to it. Node hashes
    only; an inclusion proof carries a record's leaf and stays with officers."""
    require_published(uow)
    return _consistency(uow, first, second)


def _proof(uow: UnitOfWork, record_id: int, tree_size: int) -> RecordProof:
    leaf = uow.session.scalar(select(LogLeaf).where(LogLeaf.record_id == record_id))
    record = uow.session.get(AuditRecord, record_id)
    if record is None:
        raise QunguanError("not_found", "No such audit record.")
    if leaf is None or leaf.leaf_index >= tree_size:
        raise QunguanError("not_yet_logged", "The record is not covered by that tree size yet.",
                           tree_size=tree_size)
    return RecordProof(record_id, leaf.leaf_index, tree_size,
                       leaves.leaf_entry(record, leaf.content_sha256), leaf.leaf_hash,
                       store.inclusion(uow.session, leaf.leaf_index, tree_size))


def _check_size(uow: UnitOfWork, tree_size: int) -> None:
    size = _log_size(uow)
    if tree_size > size:
        raise QunguanError("beyond_tree_size", f"The log has {size} leaves.", tree_size=size)


def record_proof(uow: UnitOfWork, *, viewer: Account, record_id: int,
                 tree_size: int | None = None) -> tuple[RecordProof, Checkpoint | None]:
    """The inclusion proof of a record in the latest checkpoint (or in the tree of
    ``tree_size`` leaves, with the checkpoint of that size if one was signed)."""
    identity_queries.require_officer(viewer)
    if tree_size is None:
        cp: Checkpoint | None = _latest(uow)
        assert cp is not None
        tree_size = cp.tree_size
    else:
        _check_size(uow, tree_size)
        cp = uow.session.scalar(select(Checkpoint).where(Checkpoint.tree_size == tree_size)
                                .order_by(Checkpoint.id.desc()).limit(1))
    return _proof(uow, record_id, tree_size), cp


def consistency_proof(uow: UnitOfWork, *, viewer: Account, first: int,
                      second: int | None = None) -> tuple[int, int, list[bytes]]:
    """The consistency proof between the trees of ``first`` and ``second`` leaves (default:
    the latest checkpoint's size)."""
    identity_queries.require_officer(viewer)
    return _consistency(uow, first, second)


def _consistency(uow: UnitOfWork, first: int, second: int | None) -> tuple[int, int, list[bytes]]:
    if second is None:
        second = _latest(uow).tree_size
    _check_size(uow, second)
    if first > second:
        raise QunguanError("invalid_request", "first must not exceed second.",
                           fields=["first"])
    return first, second, store.consistency(uow.session, first, second)


def proofs_for_records(uow: UnitOfWork, *, viewer: Account | None, record_ids: Sequence[int]
                       ) -> ProofBundle:
    """The latest checkpoint and an inclusion proof in it for each record (for a case
    export: an inspector verifies each with merkle.verify_inclusion against the checkpoint's
    root after checking its signature with notes.open_checkpoint). ``viewer`` None is the
    operator's CLI (``qunguan case export``)."""
    if viewer is not None:
        identity_queries.require_officer(viewer)
    cp = _latest(uow)
    return ProofBundle(cp, [_proof(uow, rid, cp.tree_size) for rid in record_ids])


def log_health(uow: UnitOfWork) -> dict[str, Any]:
    """The log's size and the last self-check's outcome (for /healthz; no personal data)."""
    st = uow.session.get(LogState, 1)
    if st is None:
        return {"status": "empty", "tree_size": 0}
    status = {None: "unchecked", True: "ok", False: "tampered"}[st.check_ok]
    out: dict[str, Any] = {"status": status, "tree_size": st.tree_size,
                           "checked_at": st.checked_at.isoformat() if st.checked_at else None}
    if st.check_ok is False:
        out["problem"] = (st.check_message or "")[:300]
    return out
