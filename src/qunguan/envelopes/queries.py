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
    EnvelopeLimit,
    EnvelopeStatus,
    LedgerTransaction,
)
from qunguan.envelopes.providers import PROVIDERS, get_provider
from qunguan.groups import Group
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
    """The envelope for ``viewer``: the hold reason (English, and Chinese: none for envelopes
    held before the Chinese was kept) only for its sender and officers (none when no viewer
    is named)."""
    taken = claims(uow, envelope.id)
    shown = viewer is not None and sees_hold(viewer, envelope)
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
        "hold_reason": envelope.hold_reason if shown else None,
        "hold_reason_zh": envelope.hold_reason_zh if shown else None,
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


# --- limits -----------------------------------------------------------------------------------


class LimitSource:
    """Which limit binds an envelope in a group (``EnvelopeLimits.source``)."""

    DEFAULT = "default"  # QUNGUAN_ENVELOPE_MAX_FEN
    STRICT = "strict_category"  # QUNGUAN_ENVELOPE_STRICT_MAX_FEN (PAY-4)
    CATEGORY = "category"  # QUNGUAN_ENVELOPE_CATEGORY_LIMITS
    GROUP = "group"  # an officer's override (envelope_limits)


@dataclass(frozen=True)
class EnvelopeLimits:
    """The limits of red envelopes in one group: ``max_fen`` is the strictest of the
    default, the strict-category cap, the category's setting and the group's override;
    ``ceiling_fen`` is that strictest without the group's override: the most an override may
    be. The daily total is the sender's, over every group."""

    group_id: int
    category: str
    max_fen: int
    source: str
    ceiling_fen: int
    default_max_fen: int
    category_max_fen: int | None  # the category's setting, or the PAY-4 cap, if any
    override: EnvelopeLimit | None
    daily_max_fen: int
    max_parts: int


def group_limit(uow: UnitOfWork, group_id: int) -> EnvelopeLimit | None:
    return uow.session.scalar(select(EnvelopeLimit).where(EnvelopeLimit.group_id == group_id))


def envelope_limits(uow: UnitOfWork, group: Group) -> EnvelopeLimits:
    """The group's effective limits (no authorisation: the caller has the group already).
    The strictest applies, so neither a category setting nor an officer's override can
    loosen the default or PAY-4's cap, even when settings are lowered after an override."""
    settings = uow.settings
    candidates = [(settings.envelope_max_fen, LimitSource.DEFAULT)]
    if group_queries.is_strict_category(group.category):
        candidates.append((settings.envelope_strict_max_fen, LimitSource.STRICT))
    configured = settings.envelope_category_limits.get(str(group.category))
    if configured is not None:
        candidates.append((configured, LimitSource.CATEGORY))
    ceiling, ceiling_source = min(candidates, key=lambda c: c[0])
    override = group_limit(uow, group.id)
    binding = (override.max_fen, LimitSource.GROUP) if override is not None \
        and override.max_fen < ceiling else (ceiling, ceiling_source)
    category_fen = min((fen for fen, source in candidates if source != LimitSource.DEFAULT),
                       default=None)
    return EnvelopeLimits(
        group_id=group.id, category=str(group.category), max_fen=binding[0],
        source=binding[1], ceiling_fen=ceiling, default_max_fen=settings.envelope_max_fen,
        category_max_fen=category_fen, override=override,
        daily_max_fen=settings.envelope_daily_max_fen, max_parts=settings.envelope_max_parts)


def access_envelope_limits(uow: UnitOfWork, *, viewer: Account,
                           group_id: int) -> EnvelopeLimits:
    """The group's limits, for its members and officers (not_found otherwise)."""
    group = group_queries.access_group(uow, viewer=viewer, group_id=group_id)
    return envelope_limits(uow, group)


def render_limits(limits: EnvelopeLimits, viewer: Account) -> dict[str, Any]:
    """The limits for ``viewer``: who set the override and why, for officers only."""
    override = limits.override
    officer = viewer.is_officer
    return {
        "group_id": limits.group_id, "category": limits.category,
        "max_fen": limits.max_fen, "max_yuan": format_fen(limits.max_fen),
        "source": limits.source, "ceiling_fen": limits.ceiling_fen,
        "default_max_fen": limits.default_max_fen,
        "category_max_fen": limits.category_max_fen,
        "group_max_fen": override.max_fen if override is not None else None,
        "group_reason": override.reason if override is not None and officer else None,
        "group_set_by": override.set_by if override is not None and officer else None,
        "group_set_at": override.set_at if override is not None and officer else None,
        "daily_max_fen": limits.daily_max_fen, "max_parts": limits.max_parts,
    }
