"""Reads of red envelopes: an envelope with who claimed how much, a wallet, reconciliation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from qunguan.envelopes import ledger
from qunguan.envelopes.models import (
    Envelope,
    EnvelopeClaim,
    EnvelopeFestivalTotal,
    EnvelopeStatus,
    LedgerTransaction,
)
from qunguan.envelopes.providers import PROVIDERS, get_provider
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.money import format_fen
from qunguan.kernel.uow import UnitOfWork


def sees_hold(viewer: Account, envelope: Envelope) -> bool:
    """Whether the viewer may know that the envelope is held and why: its sender and
    officers. The group is not told of a held envelope until a reviewer releases it."""
    return viewer.id == envelope.sender_id or viewer.is_officer


def access_envelope(uow: UnitOfWork, *, viewer: Account, envelope_id: int) -> Envelope:
    """The envelope, if the viewer is a member of its group and it is not held, or held and
    the viewer sees holds (not_found otherwise)."""
    envelope = uow.session.get(Envelope, envelope_id)
    if envelope is None:
        raise QunguanError("not_found", "No such envelope.")
    group_queries.access_membership(uow, viewer=viewer, group_id=envelope.group_id)
    if envelope.status == EnvelopeStatus.HELD and not sees_hold(viewer, envelope):
        raise QunguanError("not_found", "No such envelope.")
    return envelope


def group_envelopes(uow: UnitOfWork, *, viewer: Account, group_id: int,
                    limit: int = 20) -> list[Envelope]:
    """The group's newest envelopes, for its members (not_found otherwise); a held envelope
    only for its sender and officers."""
    group_queries.access_membership(uow, viewer=viewer, group_id=group_id)
    stmt = select(Envelope).where(Envelope.group_id == group_id)
    if not viewer.is_officer:
        stmt = stmt.where((Envelope.status != str(EnvelopeStatus.HELD))
                          | (Envelope.sender_id == viewer.id))
    return list(uow.session.scalars(stmt.order_by(Envelope.id.desc())
                                    .limit(max(1, min(limit, 100)))))


def claims(uow: UnitOfWork, envelope_id: int) -> list[EnvelopeClaim]:
    return list(uow.session.scalars(select(EnvelopeClaim).where(
        EnvelopeClaim.envelope_id == envelope_id).order_by(EnvelopeClaim.id)))


def _is_sandbox(provider: str) -> bool:
    found = PROVIDERS.get(provider)
    return bool(found is None or found.sandbox)


def render(uow: UnitOfWork, envelope: Envelope,
           viewer: Account | None = None) -> dict[str, Any]:
    """The envelope for ``viewer``: the hold reason only for its sender and officers (none
    when no viewer is named)."""
    taken = claims(uow, envelope.id)
    names = identity_queries.accounts_by_ids(uow, [envelope.sender_id]
                                             + [c.account_id for c in taken])
    return {
        "id": envelope.id, "group_id": envelope.group_id, "sender_id": envelope.sender_id,
        "sender_name": names[envelope.sender_id].display_name,
        "recipient_id": envelope.recipient_id, "split": envelope.split,
        "total_fen": envelope.total_fen, "total_yuan": format_fen(envelope.total_fen),
        "parts": envelope.parts, "remaining_parts": envelope.remaining_parts,
        "status": envelope.status, "created_at": envelope.created_at,
        "expires_at": envelope.expires_at, "refunded_fen": envelope.refunded_fen,
        "provider": envelope.provider, "sandbox": _is_sandbox(envelope.provider),
        "election_id": envelope.election_id,
        "hold_reason": envelope.hold_reason if viewer is not None
        and sees_hold(viewer, envelope) else None,
        "claims": [{"account_id": c.account_id, "display_name": names[c.account_id].display_name,
                    "amount_fen": c.amount_fen, "claimed_at": c.claimed_at} for c in taken],
    }


def render_claim(claim: EnvelopeClaim) -> dict[str, Any]:
    return {"envelope_id": claim.envelope_id, "account_id": claim.account_id,
            "amount_fen": claim.amount_fen, "claimed_at": claim.claimed_at}


def render_wallet(uow: UnitOfWork, account_id: int) -> dict[str, Any]:
    balance = ledger.balance_of(uow, ledger.wallet_key(account_id))
    provider = uow.settings.payment_provider
    return {"balance_fen": balance, "balance_yuan": format_fen(balance), "provider": provider,
            "sandbox": _is_sandbox(provider)}


@dataclass(frozen=True)
class Discrepancy:
    payment: str
    provider_fen: int
    ledger_fen: int


def reconcile(uow: UnitOfWork, provider_name: str) -> list[Discrepancy]:
    """Compare the provider's statement with the ledger's top-ups, payment by payment.

    The provider's net (captured, less refunded) must equal what the ledger credited under
    that payment's reference; a ledger top-up the provider does not know is a discrepancy
    too. Empty means the books agree."""
    provider = get_provider(provider_name)
    theirs: dict[str, int] = {}
    for payment in provider.statement(uow):
        net = payment.amount_fen - payment.refunded_fen if payment.status != "created" else 0
        theirs[payment.external_id] = net
    ours: dict[str, int] = {}
    rows = uow.session.scalars(select(LedgerTransaction).where(LedgerTransaction.kind == "topup"))
    for txn in rows:
        _, amount, external_id = (txn.reference or "::").split(":", 2)
        ours[external_id] = ours.get(external_id, 0) + int(amount or 0)
    out = []
    for external_id in sorted(set(theirs) | set(ours)):
        if theirs.get(external_id, 0) != ours.get(external_id, 0):
            out.append(Discrepancy(external_id, theirs.get(external_id, 0),
                                   ours.get(external_id, 0)))
    return out


def volume_per_day(uow: UnitOfWork, *, viewer: Account, since: datetime
                   ) -> list[tuple[str, int, int, int]]:
    """Red-envelope volume per UTC day and group since ``since``, for the officer dashboard:
    ``(YYYY-MM-DD, group id, envelopes, total fen)``, oldest day first."""
    identity_queries.require_officer(viewer)
    day = func.date(Envelope.created_at)
    rows = uow.session.execute(
        select(day, Envelope.group_id, func.count(), func.sum(Envelope.total_fen))
        .where(Envelope.created_at >= since)
        .group_by(day, Envelope.group_id).order_by(day, Envelope.group_id))
    return [(str(d), int(g), int(n), int(total or 0)) for d, g, n, total in rows]


def festival_totals(uow: UnitOfWork, sender_id: int, group_id: int) -> dict[str, int]:
    """What the sender gave in the group at each festival season ("spring:2027"), in fen:
    the vote-buying detectors' festival habits."""
    return {season: int(total) for season, total in uow.session.execute(
        select(EnvelopeFestivalTotal.season, EnvelopeFestivalTotal.total_fen).where(
            EnvelopeFestivalTotal.sender_id == sender_id,
            EnvelopeFestivalTotal.group_id == group_id))}
