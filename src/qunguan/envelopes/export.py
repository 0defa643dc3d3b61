"""The red-envelope trail for a discipline inspection or police request (PAY-5), as JSON and
CSV: every envelope in the filters with its sender, group, total, parts, recipients (display
names: legal names stay in the vault), times, election, and every ledger transaction."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from qunguan.envelopes.models import Envelope, EnvelopeClaim, LedgerPosting, LedgerTransaction
from qunguan.groups import Group
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork

MAX_ROWS = 10_000
CSV_COLUMNS = ("envelope_id", "group_id", "group_name", "sender_id", "sender_display_name",
               "envelope_total_fen", "envelope_parts", "split", "status", "election_id",
               "election_policy", "movement", "ledger_transaction_id", "account_id",
               "display_name", "amount_fen", "at")


@dataclass(frozen=True)
class ExportFilters:
    since: datetime | None = None
    until: datetime | None = None
    group_id: int | None = None
    sender_id: int | None = None
    election_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "group_id": self.group_id, "sender_id": self.sender_id,
                "election_id": self.election_id}


def _envelopes(uow: UnitOfWork, f: ExportFilters) -> list[Envelope]:
    stmt = select(Envelope)
    if f.since is not None:
        stmt = stmt.where(Envelope.created_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(Envelope.created_at < f.until)
    for column, value in ((Envelope.group_id, f.group_id), (Envelope.sender_id, f.sender_id),
                          (Envelope.election_id, f.election_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    count = int(uow.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    if count > MAX_ROWS:
        raise QunguanError("export_too_large", "Too many envelopes for one export.",
                           max_rows=MAX_ROWS, rows=count)
    return list(uow.session.scalars(stmt.order_by(Envelope.id)))


def collect(uow: UnitOfWork, f: ExportFilters) -> list[dict[str, Any]]:
    """One dict per envelope, with its claims and its ledger transactions and postings."""
    envelopes = _envelopes(uow, f)
    ids = [e.id for e in envelopes]
    claims: dict[int, list[EnvelopeClaim]] = {}
    txns: dict[int, list[LedgerTransaction]] = {}
    postings: dict[int, list[LedgerPosting]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for c in uow.session.scalars(select(EnvelopeClaim).where(
                EnvelopeClaim.envelope_id.in_(chunk)).order_by(EnvelopeClaim.id)):
            claims.setdefault(c.envelope_id, []).append(c)
        rows = list(uow.session.scalars(select(LedgerTransaction).where(or_(
            LedgerTransaction.reference.in_([f"envelope:{i}" for i in chunk]),
            *[LedgerTransaction.reference.like(f"envelope:{i}:%") for i in chunk]))
            .order_by(LedgerTransaction.id)))
        for t in rows:
            txns.setdefault(int((t.reference or "").split(":")[1]), []).append(t)
        for p in uow.session.scalars(select(LedgerPosting).where(
                LedgerPosting.transaction_id.in_([t.id for t in rows]))):
            postings.setdefault(p.transaction_id, []).append(p)
    people = {e.sender_id for e in envelopes} | {c.account_id for cs in claims.values()
                                                 for c in cs}
    names = identity_queries.accounts_by_ids(uow, sorted(people))
    groups = {g.id: g for g in uow.session.scalars(select(Group).where(
        Group.id.in_({e.group_id for e in envelopes})))} if envelopes else {}

    def name(account_id: int) -> str:
        return names[account_id].display_name if account_id in names else "?"

    out = []
    for e in envelopes:
        out.append({
            "envelope_id": e.id, "group_id": e.group_id,
            "group_name": groups[e.group_id].name if e.group_id in groups else "?",
            "sender_id": e.sender_id, "sender_display_name": name(e.sender_id),
            "total_fen": e.total_fen, "parts": e.parts, "split": e.split, "status": e.status,
            "created_at": e.created_at.isoformat(), "expires_at": e.expires_at.isoformat(),
            "refunded_fen": e.refunded_fen, "provider": e.provider,
            "election_id": e.election_id, "election_policy": e.election_policy,
            "hold_reason": e.hold_reason,
            "recipients": [{"account_id": c.account_id, "display_name": name(c.account_id),
                            "amount_fen": c.amount_fen, "claimed_at": c.claimed_at.isoformat()}
                           for c in claims.get(e.id, [])],
            "ledger": [{"transaction_id": t.id, "kind": t.kind, "acting_id": t.acting_id,
                        "at": t.created_at.isoformat(),
                        "postings": [{"ledger_account_id": p.account_id, "amount_fen": p.amount}
                                     for p in postings.get(t.id, [])]}
                       for t in txns.get(e.id, [])],
        })
    return out


_MOVEMENT = {"envelope_send": "sent", "envelope_claim": "claimed",
             "envelope_refund": "refunded"}


def to_json(rows: list[dict[str, Any]], f: ExportFilters, reference: str,
            generated_at: datetime) -> str:
    return json.dumps({"generated_at": generated_at.isoformat(), "request_reference": reference,
                       "filters": f.as_dict(), "envelopes": rows}, ensure_ascii=False, indent=1)


def to_csv(rows: list[dict[str, Any]]) -> str:
    """One line per ledger transaction of each envelope: sent, claimed (by whom), refunded."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for e in rows:
        names = {c["account_id"]: c["display_name"] for c in e["recipients"]}
        for t in e["ledger"]:
            movement = _MOVEMENT.get(t["kind"], t["kind"])
            account_id, display = e["sender_id"], e["sender_display_name"]
            if movement == "claimed":  # a claim's ledger transaction is the claimer's act
                account_id, display = t["acting_id"], names.get(t["acting_id"], "?")
            amount = max((abs(p["amount_fen"]) for p in t["postings"]), default=0)
            writer.writerow({
                "envelope_id": e["envelope_id"], "group_id": e["group_id"],
                "group_name": e["group_name"], "sender_id": e["sender_id"],
                "sender_display_name": e["sender_display_name"],
                "envelope_total_fen": e["total_fen"], "envelope_parts": e["parts"],
                "split": e["split"], "status": e["status"], "election_id": e["election_id"],
                "election_policy": e["election_policy"], "movement": movement,
                "ledger_transaction_id": t["transaction_id"], "account_id": account_id,
                "display_name": display, "amount_fen": amount, "at": t["at"]})
    return buf.getvalue()
