"""Post-commit work of red envelopes, from the outbox: held envelopes into the review queue and
their reviewers' decisions back out, and the vote-buying detectors after every send and claim.

Envelopes sit above enforcement's review queue and talk to it the way screening does: they
open items (``enforcement.review.open_item``, acting as the system account) and follow
``REVIEW_ITEM_DECIDED``; enforcement never imports envelopes.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from qunguan.enforcement.models import Decision, ItemSource, ReviewItem, SubjectType
from qunguan.enforcement.review import open_item
from qunguan.envelopes import actions, queries
from qunguan.envelopes.models import (
    Envelope,
    EnvelopeAlert,
    EnvelopeClaim,
    EnvelopeStatus,
    LedgerPosting,
    LedgerTransaction,
)
from qunguan.envelopes.votebuying import (
    Alert,
    Claim,
    ElectionInfo,
    EnvelopeRecord,
    Thresholds,
    detect,
    named_before,
)
from qunguan.groups import ElectionPeriod, Group
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.events import Event, EventType
from qunguan.kernel.outbox import register_handler
from qunguan.kernel.uow import UnitOfWork, record_audit

SEVERITY_HELD = 3
SEVERITY_ALERT = 3
MAX_EVIDENCE_NAMES = 200
MAX_EVIDENCE_POSTINGS = 500
MAX_EVIDENCE_ENVELOPES = 100


# --- held envelopes ---------------------------------------------------------------------------


def on_envelope_held(uow: UnitOfWork, event: Event) -> None:
    """A held envelope waits for a reviewer: dismiss releases it, remove refuses it. It was
    held by the election's policy, or by the screening rules named in the event (a send that
    would complete a vote-buying pattern), each with its explanation and the evidence."""
    envelope = uow.session.get(Envelope, int(event.payload["envelope_id"]))
    if envelope is None or envelope.status != EnvelopeStatus.HELD:
        return
    system = identity_queries.system_account(uow)
    proof = evidence(uow, [envelope.id], [], envelope.election_id)
    held_by = event.payload.get("screening") or []
    rules = [{"rule": str(r["rule"]), "detector": str(r["detector"]), "automated": True,
              "source": ItemSource.HELD, "explanation": str(r["explanation"]),
              "evidence": {**proof, "signals": r.get("signals", [])}}
             for r in held_by if isinstance(r, dict)]
    if not rules:
        rules = [{"rule": "election_hold", "detector": "election", "automated": True,
                  "source": ItemSource.HELD, "explanation": envelope.hold_reason,
                  "evidence": proof}]
    severity = max([SEVERITY_HELD] + [int(r.get("severity", 0)) for r in held_by
                                      if isinstance(r, dict)])
    open_item(uow, acting=system, source=ItemSource.HELD, subject_type=SubjectType.ENVELOPE,
              subject_id=envelope.id, group_id=envelope.group_id, severity=severity,
              rules=rules, automated=True)


def on_review_item_decided(uow: UnitOfWork, event: Event) -> None:
    item = uow.session.get(ReviewItem, int(event.payload["item_id"]))
    if item is None or item.subject_type != SubjectType.ENVELOPE or item.decided_by is None:
        return
    envelope = uow.session.get(Envelope, item.subject_id)
    if envelope is None or envelope.status != EnvelopeStatus.HELD:
        return  # decided already (a retried outbox row)
    officer = uow.session.get(Account, item.decided_by)
    assert officer is not None
    reason = item.decision_reason or ""
    if item.decision == Decision.DISMISS:
        actions.do_release_envelope(uow, acting=officer, envelope_id=envelope.id, reason=reason)
    else:
        actions.do_refuse_envelope(uow, acting=officer, envelope_id=envelope.id, reason=reason)


# --- vote-buying detectors --------------------------------------------------------------------


@lru_cache(maxsize=8)
def _thresholds(path: Path | None) -> Thresholds:
    return Thresholds.from_file(path)


def thresholds(uow: UnitOfWork) -> Thresholds:
    return _thresholds(uow.settings.votebuying_thresholds_file)


def election_infos(uow: UnitOfWork, group: Group, lead_days: float) -> list[ElectionInfo]:
    """The elections covering the group whose window (with the lead) contains now."""
    found = group_queries.elections_covering(uow, group, at=uow.now() - timedelta(days=1),
                                             lead_seconds=int(lead_days * 86400) + 86400)
    people = group_queries.election_people(uow, [e.id for e in found])
    out = []
    for e in found:
        mine = [p for p in people if p.election_id == e.id]
        out.append(ElectionInfo(
            id=e.id, name=e.name, starts_at=e.starts_at, ends_at=e.ends_at, vote_at=e.vote_at,
            group_ids=frozenset({group.id}),
            candidates=frozenset(p.account_id for p in mine if p.role == "candidate"),
            associates={p.account_id: p.candidate_id for p in mine
                        if p.role == "associate" and p.candidate_id is not None}))
    return out


def group_records(uow: UnitOfWork, group: Group, days: float) -> list[EnvelopeRecord]:
    since = uow.now() - timedelta(days=days)
    envelopes = list(uow.session.scalars(select(Envelope).where(
        Envelope.group_id == group.id, Envelope.created_at > since).order_by(Envelope.id)))
    claims: dict[int, list[Claim]] = {}
    if envelopes:
        rows = uow.session.scalars(select(EnvelopeClaim).where(
            EnvelopeClaim.envelope_id.in_([e.id for e in envelopes])).order_by(EnvelopeClaim.id))
        for c in rows:
            claims.setdefault(c.envelope_id, []).append(
                Claim(c.account_id, c.amount_fen, c.claimed_at))
    return [EnvelopeRecord(e.id, e.sender_id, e.group_id, e.total_fen, e.parts, e.created_at,
                           e.group_member_count or group.member_count,
                           tuple(claims.get(e.id, ())))
            for e in envelopes if e.status != EnvelopeStatus.REFUSED]


def evidence(uow: UnitOfWork, envelope_ids: list[int], recipients: list[int],
             election_id: int | None) -> dict[str, Any]:
    """What a reviewer needs: the ledger extract of the envelopes, the recipients by display
    name (never a legal name), and the election's dates."""
    ids = envelope_ids[:MAX_EVIDENCE_ENVELOPES]
    # Sends and refunds name "envelope:{id}", claims "envelope:{id}:{idempotency key}".
    txns = list(uow.session.scalars(select(LedgerTransaction).where(or_(
        LedgerTransaction.reference.in_([f"envelope:{i}" for i in ids]),
        *[LedgerTransaction.reference.like(f"envelope:{i}:%") for i in ids]))
        .order_by(LedgerTransaction.id).limit(MAX_EVIDENCE_POSTINGS))) if ids else []
    postings: dict[int, list[tuple[int, int]]] = {}
    if txns:
        for p in uow.session.scalars(select(LedgerPosting).where(
                LedgerPosting.transaction_id.in_([t.id for t in txns]))):
            postings.setdefault(p.transaction_id, []).append((p.account_id, p.amount))
    names = identity_queries.accounts_by_ids(uow, recipients[:MAX_EVIDENCE_NAMES])
    out: dict[str, Any] = {
        "ledger": [{"transaction_id": t.id, "kind": t.kind, "reference": t.reference,
                    "at": t.created_at.isoformat(),
                    "postings": [{"ledger_account_id": a, "amount_fen": m}
                                 for a, m in postings.get(t.id, [])]} for t in txns],
        "recipients": [{"account_id": a, "display_name": names[a].display_name}
                       for a in recipients[:MAX_EVIDENCE_NAMES] if a in names],
        "recipient_count": len(recipients),
    }
    if election_id is not None:
        election = uow.session.get(ElectionPeriod, election_id)
        if election is not None:
            out["election"] = {"id": election.id, "name": election.name,
                               "starts_at": election.starts_at.isoformat(),
                               "ends_at": election.ends_at.isoformat(),
                               "vote_at": election.vote_at.isoformat()}
    return out


def run_detectors(uow: UnitOfWork, group_id: int, sender_id: int) -> list[EnvelopeAlert]:
    """Run the detectors for one sender in one group now; store, audit and queue each new
    alert. Returns the new alerts."""
    if not uow.settings.votebuying_enabled:
        return []
    group = uow.session.get(Group, group_id)
    if group is None:
        return []
    t = thresholds(uow)
    elections = election_infos(uow, group, t.lead_days)
    if not elections:
        return []  # the cheap exit for every group without an election
    records = group_records(uow, group, t.history_days)
    found = detect(records, elections, sender_id=sender_id, group_id=group_id,
                   now=uow.now(), thresholds=t,
                   festival_totals=queries.festival_totals(uow, sender_id, group_id))
    return [row for alert in found if (row := _store(uow, alert)) is not None]


def _store(uow: UnitOfWork, alert: Alert) -> EnvelopeAlert | None:
    """Store, audit and queue ``alert`` unless officers have it already: the same key (pattern,
    sender, group and election), or all its envelopes named by a stored alert of the same
    pattern, sender and group under another election (a group covered by two elections)."""
    if uow.session.scalar(select(EnvelopeAlert.id).where(EnvelopeAlert.dedup_key == alert.key)):
        return None
    if named_before(alert, uow.session.scalars(select(EnvelopeAlert.envelope_ids).where(
            EnvelopeAlert.pattern == alert.pattern, EnvelopeAlert.sender_id == alert.sender_id,
            EnvelopeAlert.group_id == alert.group_id))):
        return None
    recipients = [int(r) for r in alert.details.get("recipients", [])]
    proof = evidence(uow, list(alert.envelope_ids), recipients, alert.election_id)
    proof["timing"] = alert.details.get("timing")
    details = {k: v for k, v in alert.details.items() if k not in ("recipients", "timing")}
    row = EnvelopeAlert(dedup_key=alert.key, pattern=alert.pattern, sender_id=alert.sender_id,
                        group_id=alert.group_id, election_id=alert.election_id,
                        envelope_ids=list(alert.envelope_ids), explanation=alert.explanation,
                        evidence={**proof, "details": details}, first_envelope_at=alert.first_at,
                        created_at=uow.now())
    uow.session.add(row)
    uow.session.flush()
    system = identity_queries.system_account(uow)
    record_audit(uow, EventType.VOTEBUYING_ALERT, acting=system, subject_type="envelope_alert",
                 subject_id=row.id, group_id=row.group_id,
                 extra={"pattern": row.pattern, "sender_id": row.sender_id,
                        "election_id": row.election_id, "envelope_ids": row.envelope_ids,
                        "explanation": row.explanation})
    # Not delivered to the group: members must not learn of the review.
    uow.emit(EventType.VOTEBUYING_ALERT, alert_id=row.id, pattern=row.pattern,
             sender_id=row.sender_id, target_group_id=row.group_id,
             election_id=row.election_id, envelope_ids=row.envelope_ids)
    open_item(uow, acting=system, source=ItemSource.SCREENING, subject_type=SubjectType.ACCOUNT,
              subject_id=row.sender_id, group_id=row.group_id, severity=SEVERITY_ALERT,
              rules=[{"rule": f"votebuying_{row.pattern}", "detector": "votebuying",
                      "automated": True, "source": ItemSource.SCREENING, "alert_id": row.id,
                      "explanation": row.explanation, "evidence": row.evidence}],
              automated=True)
    return row


def on_envelope_event(uow: UnitOfWork, event: Event) -> None:
    envelope = uow.session.get(Envelope, int(event.payload["envelope_id"]))
    if envelope is not None:
        run_detectors(uow, envelope.group_id, envelope.sender_id)


register_handler(EventType.ENVELOPE_HELD, on_envelope_held)
register_handler(EventType.REVIEW_ITEM_DECIDED, on_review_item_decided)
for _type in (EventType.ENVELOPE_SENT, EventType.ENVELOPE_HELD, EventType.ENVELOPE_CLAIMED):
    register_handler(_type, on_envelope_event)
