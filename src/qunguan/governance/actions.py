"""Governance's state changes: legal holds and the purge of content past retention."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from qunguan.auditlog import leaves
from qunguan.governance import bundle as bundle_files
from qunguan.governance import export, proofs
from qunguan.governance.models import HoldScope, LegalHold, PurgedContent
from qunguan.governance.queries import (
    RecordKind,
    access_hold,
    cutoff,
    held_scope,
    kind_query,
    payload_is_held,
    require_hold_target,
    retention_days,
)
from qunguan.identity import Account, AccountKind, unmasking
from qunguan.identity import queries as identity_queries
from qunguan.identity.models import AuthToken, LoginAttempt, UnmaskRequest
from qunguan.importers import actions as importers_actions
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.models import OutboxEvent
from qunguan.kernel.text import require_reason
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.messaging import queries as messaging_queries
from qunguan.rumors import actions as rumor_actions
from qunguan.rumors import clusters as rumor_clusters

# --- legal holds ----------------------------------------------------------------------------


def do_place_hold(uow: UnitOfWork, *, acting: Account, scope: HoldScope, scope_id: int,
                  reason: str) -> LegalHold:
    """An officer suspends purging of a case, a group or an account (LR-6)."""
    identity_queries.require_officer(acting)
    scope = HoldScope(scope)
    reason = require_reason(reason)
    require_hold_target(uow, scope, scope_id)
    hold = LegalHold(scope=scope.value, scope_id=scope_id, reason=reason, placed_by=acting.id,
                     placed_at=uow.now())
    uow.session.add(hold)
    uow.session.flush()
    record_audit(uow, EventType.LEGAL_HOLD_PLACED, acting=acting, subject_type="legal_hold",
                 subject_id=hold.id, group_id=scope_id if scope == HoldScope.GROUP else None,
                 extra={"scope": scope.value, "scope_id": scope_id, "reason": reason})
    uow.emit(EventType.LEGAL_HOLD_PLACED, hold_id=hold.id, scope=scope.value,
             scope_id=scope_id)
    return hold


def do_lift_hold(uow: UnitOfWork, *, acting: Account, hold_id: int, reason: str) -> LegalHold:
    hold = access_hold(uow, viewer=acting, hold_id=hold_id)
    reason = require_reason(reason)
    uow.session.refresh(hold, with_for_update=True)  # two officers lifting at once
    if hold.lifted_at is not None:
        raise QunguanError("hold_not_active", "This legal hold was already lifted.",
                           lifted_at=hold.lifted_at.isoformat())
    hold.lifted_at = uow.now()
    hold.lifted_by = acting.id
    hold.lift_reason = reason
    record_audit(uow, EventType.LEGAL_HOLD_LIFTED, acting=acting, subject_type="legal_hold",
                 subject_id=hold.id,
                 group_id=hold.scope_id if hold.scope == HoldScope.GROUP else None,
                 extra={"scope": hold.scope, "scope_id": hold.scope_id, "reason": reason})
    uow.emit(EventType.LEGAL_HOLD_LIFTED, hold_id=hold.id, scope=hold.scope,
             scope_id=hold.scope_id)
    return hold


# --- the purge ------------------------------------------------------------------------------


def sha256_hex(content: Any) -> str:
    """The digest recorded for purged content: of the text itself, or of the canonical JSON
    (sorted keys, no spaces, UTF-8) of anything structured."""
    data = content if isinstance(content, str) else json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Purged:
    kind: RecordKind
    ids: list[int]


def _erase(uow: UnitOfWork, kind: RecordKind, rows: list[Any]) -> list[tuple[int, str]]:
    """Remove or anonymise the content of ``rows``; return (id, sha256 of what went)."""
    done: list[tuple[int, str]] = []
    if kind == RecordKind.MESSAGES:
        for m in rows:
            done.append((m.id, sha256_hex(m.text)))
            m.text = None
        rumor_actions.forget_messages(uow, [m.id for m in rows])
    elif kind == RecordKind.SCREENING_EVIDENCE:
        for h in rows:
            done.append((h.id, sha256_hex(h.signals)))
            h.signals = []
    elif kind == RecordKind.OUTBOX_EVENTS:
        done = [(r.id, sha256_hex({"type": r.event_type, "group_id": r.group_id,
                                   "payload": r.payload})) for r in rows]
        uow.session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_([i for i, _ in done])))
    elif kind == RecordKind.LOGIN_ATTEMPTS:
        done = [(r.id, sha256_hex({"phone_index": r.phone_index, "source_ip": r.source_ip,
                                   "at": r.at.isoformat()})) for r in rows]
        uow.session.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(
            [i for i, _ in done])))
    elif kind == RecordKind.AUTH_TOKENS:
        done = [(r.id, sha256_hex({"account_id": r.account_id, "created_at": r.created_at,
                                   "expires_at": r.expires_at})) for r in rows]
        uow.session.execute(delete(AuthToken).where(AuthToken.id.in_([i for i, _ in done])))
    elif kind == RecordKind.ARCHIVED_EVENTS:
        # The importers keep the chain verifiable: the digest is the content hash it commits
        # to (chain 2), or of the whole payload (chain 1, before migration 0013).
        at = uow.now()
        done = [(r.id, importers_actions.erase_content(r, at=at)) for r in rows]
    else:
        # The audit log's own content digest (auditlog.leaves), so the two agree; the marker
        # is what auditlog.leaves.is_purged recognises.
        marker = {"purged": {"by": "retention", "kind": kind.value,
                             "at": uow.now().isoformat()}}
        for r in rows:
            done.append((r.id, leaves.content_sha256(leaves.content_of(r)).hex()))
            r.extra = marker
            r.source_ip = r.source_port = r.client_fingerprint = r.request_id = None
    return done


def do_purge_batch(uow: UnitOfWork, *, acting: Account, kind: RecordKind,
                   limit: int) -> Purged:
    """Purge up to ``limit`` rows of ``kind`` past retention and not held, oldest first, and
    write one RETENTION_PURGED record naming each row and the digest of what it held."""
    held = held_scope(uow)
    q = kind_query(kind, held)
    limit_at = cutoff(uow, kind)
    stmt = (select(q.model).where(*q.pending, *q.unheld, q.time_column < limit_at)
            .order_by(q.model.id).limit(limit))
    if uow.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)  # two workers never purge one row twice
    rows = list(uow.session.scalars(stmt))
    if kind == RecordKind.OUTBOX_EVENTS:
        rows = [r for r in rows if not payload_is_held(r.payload or {}, held)]
    if not rows:
        return Purged(kind, [])
    done = _erase(uow, kind, rows)
    now = uow.now()
    uow.session.add_all([PurgedContent(kind=kind.value, row_id=i, content_sha256=digest,
                                       purged_at=now) for i, digest in done])
    record_audit(uow, EventType.RETENTION_PURGED, acting=acting, subject_type="retention",
                 subject_id=kind.value,
                 extra={"kind": kind.value, "retention_days": retention_days(uow.settings, kind),
                        "cutoff": limit_at.isoformat(), "count": len(done),
                        "rows": [{"id": i, "sha256": d} for i, d in done]})
    uow.emit(EventType.RETENTION_PURGED, kind=kind.value, count=len(done))
    return Purged(kind, [i for i, _ in done])



# --- unmasking requests (the flow itself is identity.unmasking) -----------------------------

do_approve_unmasking = unmasking.do_approve_unmasking
do_reject_unmasking = unmasking.do_reject_unmasking
do_reveal_unmasked = unmasking.do_reveal_unmasked


def do_request_unmasking(uow: UnitOfWork, *, acting: Account, case_id: int, reason: str,
                         account_id: int | None = None,
                         cluster_id: int | None = None) -> UnmaskRequest:
    """Officer A asks to unmask an account, or the first originator of a rumour cascade, for
    a case. Exactly one of ``account_id`` and ``cluster_id``; the case must exist."""
    identity_queries.require_officer(acting)
    if (account_id is None) == (cluster_id is None):
        raise QunguanError("invalid_request", "Name either an account or a cluster.",
                           fields=["account_id", "cluster_id"])
    require_hold_target(uow, HoldScope.CASE, case_id)  # not_found: "No such case."
    basis = unmasking.Basis.ACCOUNT
    if cluster_id is not None:
        cluster = rumor_clusters.access_cluster(uow, viewer=acting, cluster_id=cluster_id)
        first = messaging_queries.message_by_id(uow, cluster.first_message_id)
        if first is None:  # pragma: no cover - a cluster's first message is never deleted
            raise QunguanError("not_found", "The cascade's first message is gone.")
        account_id = first.sender_id
        basis = unmasking.Basis.CASCADE_ORIGINATOR
    assert account_id is not None
    return unmasking.do_request_unmasking(uow, acting=acting, account_id=account_id,
                                          case_id=case_id, reason=reason, basis=basis,
                                          cluster_id=cluster_id)


# --- case export ----------------------------------------------------------------------------


def do_export_case(uow: UnitOfWork, *, acting: Account,
                   case_id: int) -> tuple[dict[str, Any], str]:
    """The bundle of a case and its HTML report, with the latest signed checkpoint and an
    inclusion proof for each audit record; the export itself is an audit record naming the
    bundle's digest. ``acting`` is an officer (API) or the system account (CLI).

    The audit log is brought up to date first (committing its own appends and checkpoint),
    so every record of the case is covered; a record committed by someone else in between is
    caught by asking again."""
    viewer = None if acting.kind == AccountKind.SYSTEM else acting
    export.build_case(uow, viewer=viewer, case_id=case_id)  # not_found before any work
    for attempt in range(3):
        proofs.bring_log_up_to_date(uow, acting=acting)
        sections = export.build_case(uow, viewer=viewer, case_id=case_id)
        bundle: dict[str, Any] = {"format": bundle_files.FORMAT, "case_id": case_id,
                                  "exported_at": uow.now().isoformat(),
                                  "exported_by": acting.id, "sections": sections}
        try:
            bundle["proofs"] = proofs.attach(uow, bundle, acting=acting)
        except QunguanError as exc:
            if exc.code != "not_yet_logged" or attempt == 2:
                raise
            continue
        break
    html = bundle_files.render_html(bundle)
    bundle_files.seal(bundle, html)
    record_audit(uow, EventType.CASE_EXPORTED, acting=acting, subject_type="review_item",
                 subject_id=case_id,
                 extra={"case_id": case_id, "bundle_sha256": bundle["bundle_sha256"],
                        "audit_records": len(sections["audit_records"]),
                        "checkpoint_size": bundle["proofs"]["tree_size"]})
    uow.emit(EventType.CASE_EXPORTED, case_id=case_id, bundle_sha256=bundle["bundle_sha256"])
    return bundle, html
