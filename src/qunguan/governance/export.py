"""Case export: everything on record about one case, gathered into a bundle (bundle.py).

A case is a review item (see ``queries``). Its bundle holds the item and its reports, the
subject message with ``CASE_CONTEXT`` messages either side (a purged text appears as null
with the SHA-256 kept when it was purged), the decision, the sanctions and statements of
reasons of the case, the appeals against them, the red envelopes the culprit sent or claimed
in the subject's group around the case (ledger extracts, in fen), the content cluster of the
subject message with its tree, and every audit record of all of these. Accounts appear by id
and display name only: a bundle never holds a legal name or ID number.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from qunguan.enforcement.models import Appeal, Report, ReviewItem, Sanction, Statement
from qunguan.envelopes.models import Envelope, EnvelopeClaim
from qunguan.governance.models import PurgedContent
from qunguan.governance.queries import CASE_CONTEXT, RecordKind
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.uow import UnitOfWork
from qunguan.messaging import queries as messaging_queries
from qunguan.messaging.models import Message
from qunguan.rumors.models import ClusterMember, ContentCluster

LEDGER_WINDOW = timedelta(days=30)  # envelopes this long before the case, and after it
MAX_CASCADE_NODES = 2000
CASE_KEYS = ("review_item_id", "item_id", "sanction_id", "statement_id", "report_id",
             "appeal_id")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _messages(uow: UnitOfWork, item: ReviewItem, extra_ids: set[int]) -> list[dict[str, Any]]:
    around: list[Message] = []
    if item.subject_type == "message":
        subject = messaging_queries.message_by_id(uow, item.subject_id)
        if subject is not None:
            around = messaging_queries.context_of(uow, subject, CASE_CONTEXT)
    seen = {m.id for m in around}
    for message_id in sorted(extra_ids - seen):
        message = messaging_queries.message_by_id(uow, message_id)
        if message is not None:
            around.append(message)
    names = identity_queries.accounts_by_ids(uow, sorted({m.sender_id for m in around}))
    purged = {p.row_id: p.content_sha256 for p in uow.session.scalars(select(PurgedContent)
              .where(PurgedContent.kind == RecordKind.MESSAGES.value,
                     PurgedContent.row_id.in_([m.id for m in around])))} if around else {}
    return [{"id": m.id, "group_id": m.group_id, "sender_id": m.sender_id,
             "sender_display_name": names[m.sender_id].display_name
             if m.sender_id in names else None,
             "created_at": _iso(m.created_at), "status": m.status, "text": m.text,
             "recalled_at": _iso(m.recalled_at), "origin_id": m.origin_id,
             "parent_id": m.parent_id, "hop": m.hop, "fingerprint": m.fingerprint,
             "labels": m.labels, "purged_sha256": purged.get(m.id),
             "is_subject": item.subject_type == "message" and m.id == item.subject_id}
            for m in around]


def _culprit(uow: UnitOfWork, item: ReviewItem) -> int | None:
    if item.subject_type == "account":
        return item.subject_id
    if item.subject_type == "message":
        message = messaging_queries.message_by_id(uow, item.subject_id)
        return message.sender_id if message is not None else None
    return None


def _ledger(uow: UnitOfWork, item: ReviewItem, culprit: int | None) -> dict[str, Any]:
    group_id = item.subject_id if item.subject_type == "group" else item.group_id
    start, end = item.created_at - LEDGER_WINDOW, item.created_at + LEDGER_WINDOW
    who = []
    if culprit is not None:
        claimed = select(EnvelopeClaim.envelope_id).where(EnvelopeClaim.account_id == culprit)
        who = [Envelope.sender_id == culprit, Envelope.id.in_(claimed)]
    where = [Envelope.created_at >= start, Envelope.created_at <= end]
    if group_id is not None:
        where.append(Envelope.group_id == group_id)
    if who:
        where.append(or_(*who))
    elif group_id is None:
        where.append(Envelope.id.is_(None))  # nothing to anchor on: no extract
    envelopes = list(uow.session.scalars(select(Envelope).where(*where).order_by(Envelope.id)))
    claims = list(uow.session.scalars(select(EnvelopeClaim).where(
        EnvelopeClaim.envelope_id.in_([e.id for e in envelopes])).order_by(EnvelopeClaim.id))
    ) if envelopes else []
    return {"scope": f"Red envelopes sent or claimed by account {culprit} in group "
                     f"{group_id}, {_iso(start)} to {_iso(end)} (amounts in fen).",
            "envelopes": [{"id": e.id, "group_id": e.group_id, "sender_id": e.sender_id,
                           "recipient_id": e.recipient_id, "split": e.split,
                           "total_fen": e.total_fen, "parts": e.parts, "status": e.status,
                           "created_at": _iso(e.created_at),
                           "refunded_fen": e.refunded_fen} for e in envelopes],
            "claims": [{"envelope_id": c.envelope_id, "account_id": c.account_id,
                        "amount_fen": c.amount_fen, "claimed_at": _iso(c.claimed_at)}
                       for c in claims]}


def _cascade(uow: UnitOfWork, item: ReviewItem) -> dict[str, Any] | None:
    if item.subject_type != "message":
        return None
    member = uow.session.get(ClusterMember, item.subject_id)
    if member is None:
        return None
    cluster = uow.session.get(ContentCluster, member.cluster_id)
    assert cluster is not None
    nodes = list(uow.session.scalars(select(ClusterMember).where(
        ClusterMember.cluster_id == cluster.id)
        .order_by(ClusterMember.created_at, ClusterMember.message_id).limit(MAX_CASCADE_NODES)))
    return {"cluster_id": cluster.id, "first_message_id": cluster.first_message_id,
            "first_group_id": cluster.first_group_id,
            "first_seen_at": _iso(cluster.first_seen_at), "messages": cluster.messages,
            "groups_reached": cluster.groups_reached, "max_hop": cluster.max_hop,
            "breaker_state": cluster.breaker_state,
            "truncated": cluster.messages > len(nodes),
            "nodes": [{"message_id": n.message_id, "group_id": n.group_id,
                       "sender_id": n.sender_id, "hop": n.hop, "parent_id": n.parent_id,
                       "copy_of_id": n.copy_of_id, "created_at": _iso(n.created_at)}
                      for n in nodes]}


def _record(r: AuditRecord) -> dict[str, Any]:
    """Every column, so the record's leaf in the Merkle log can be recomputed from it."""
    try:
        name = EventType(r.event_type).name.lower()
    except ValueError:
        name = str(r.event_type)
    return {"id": r.id, "type": name, "event_type": r.event_type,
            "occurred_at": _iso(r.occurred_at), "acting_id": r.acting_id,
            "subject_type": r.subject_type, "subject_id": r.subject_id,
            "group_id": r.group_id, "source_ip": r.source_ip, "source_port": r.source_port,
            "client_fingerprint": r.client_fingerprint, "request_id": r.request_id,
            "extra": r.extra or {}}


def _audit_records(uow: UnitOfWork, subjects: dict[str, set[int]],
                   case_ids: dict[str, set[int]], related: set[tuple[str, int]]
                   ) -> list[AuditRecord]:
    """Records about the case's own things (by subject), plus records about the culprit or
    the group that name one of the case's ids in their evidence (a sanction's record is
    about the account, and names the sanction)."""
    conditions = [(AuditRecord.subject_type == kind) &
                  AuditRecord.subject_id.in_([str(i) for i in sorted(ids)])
                  for kind, ids in subjects.items() if ids]
    loose = [(AuditRecord.subject_type == kind) & (AuditRecord.subject_id == str(i))
             for kind, i in sorted(related)]
    found: dict[int, AuditRecord] = {}
    if conditions:
        for r in uow.session.scalars(select(AuditRecord).where(or_(*conditions))):
            found[r.id] = r
    if loose:
        for r in uow.session.scalars(select(AuditRecord).where(or_(*loose))):
            extra = r.extra or {}
            if any(extra.get(key) in case_ids.get(key, set()) for key in CASE_KEYS):
                found[r.id] = r
    return [found[i] for i in sorted(found)]


def build_case(uow: UnitOfWork, *, viewer: Account | None, case_id: int) -> dict[str, Any]:
    """The sections of a case's bundle (``viewer`` None: the operator's CLI)."""
    if viewer is not None:
        identity_queries.require_officer(viewer)
    item = uow.session.get(ReviewItem, case_id)
    if item is None:
        raise QunguanError("not_found", "No such case.")
    reports = list(uow.session.scalars(select(Report).where(Report.review_item_id == item.id)
                                       .order_by(Report.id)))
    sanctions = list(uow.session.scalars(select(Sanction).where(
        Sanction.review_item_id == item.id).order_by(Sanction.id)))
    statements = list(uow.session.scalars(select(Statement).where(or_(
        Statement.review_item_id == item.id,
        Statement.sanction_id.in_([s.id for s in sanctions]))).order_by(Statement.id)))
    appeals = list(uow.session.scalars(select(Appeal).where(
        Appeal.statement_id.in_([s.id for s in statements])).order_by(Appeal.id))
    ) if statements else []
    messages = _messages(uow, item, {s.message_id for s in statements if s.message_id})
    culprit = _culprit(uow, item)
    ledger = _ledger(uow, item, culprit)
    cascade = _cascade(uow, item)
    case_ids = {"review_item_id": {item.id}, "item_id": {item.id},
                "sanction_id": {s.id for s in sanctions},
                "statement_id": {s.id for s in statements},
                "report_id": {r.id for r in reports}, "appeal_id": {a.id for a in appeals}}
    subjects = {"review_item": {item.id}, "message": {m["id"] for m in messages},
                "statement": {s.id for s in statements},
                "envelope": {e["id"] for e in ledger["envelopes"]},
                "cluster": {cascade["cluster_id"]} if cascade else set()}
    related = {(item.subject_type, item.subject_id)}
    related |= {(s.subject_type, s.subject_id) for s in sanctions}
    related |= {("account", s.account_id) for s in statements}
    records = _audit_records(uow, subjects, case_ids, related)
    return {
        "case": {"review_item_id": item.id, "source": item.source,
                 "subject_type": item.subject_type, "subject_id": item.subject_id,
                 "group_id": item.group_id, "severity": item.severity, "rules": item.rules,
                 "automated": item.automated, "status": item.status,
                 "created_at": _iso(item.created_at)},
        "reports": [{"id": r.id, "reporter_id": r.reporter_id, "subject_type": r.subject_type,
                     "subject_id": r.subject_id, "reason": r.reason, "note": r.note,
                     "good_faith": r.good_faith, "status": r.status, "outcome": r.outcome,
                     "created_at": _iso(r.created_at)} for r in reports],
        "messages": messages,
        "decisions": [{"review_item_id": item.id, "decision": item.decision,
                       "decided_by": item.decided_by, "decided_at": _iso(item.decided_at),
                       "reason": item.decision_reason}] if item.decision else [],
        "sanctions": [{"id": s.id, "subject_type": s.subject_type, "subject_id": s.subject_id,
                       "kind": s.kind, "functions": s.functions, "group_id": s.group_id,
                       "starts_at": _iso(s.starts_at), "ends_at": _iso(s.ends_at),
                       "reason": s.reason, "rule": s.rule, "automated": s.automated,
                       "imposed_by": s.imposed_by, "credit_delta": s.credit_delta,
                       "lifted_at": _iso(s.lifted_at), "lift_reason": s.lift_reason,
                       "overturned_at": _iso(s.overturned_at)} for s in sanctions],
        "statements": [{"id": s.id, "account_id": s.account_id, "measure": s.measure,
                        "sanction_id": s.sanction_id, "message_id": s.message_id,
                        "scope": s.scope, "facts": s.facts, "rule": s.rule,
                        "automated": s.automated, "decided_by": s.decided_by,
                        "redress": s.redress, "starts_at": _iso(s.starts_at),
                        "ends_at": _iso(s.ends_at),
                        "appeal_deadline": _iso(s.appeal_deadline)} for s in statements],
        "appeals": [{"id": a.id, "statement_id": a.statement_id,
                     "appellant_id": a.appellant_id, "text": a.text, "status": a.status,
                     "decided_by": a.decided_by, "decision_reason": a.decision_reason,
                     "created_at": _iso(a.created_at), "decided_at": _iso(a.decided_at)}
                    for a in appeals],
        "ledger": ledger,
        "cascade": cascade,
        "audit_records": [_record(r) for r in records],
    }
