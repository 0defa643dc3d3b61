"""Every state change of red envelopes: top up a wallet, send, claim, refund the expired.

``check_*`` validates and authorises without writing; ``do_*`` writes the rows, the ledger
transaction, the audit record and the outbox event in one transaction. A failed request
moves nothing: the ledger postings roll back with everything else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value

from qunguan import screening
from qunguan.envelopes import export, ledger
from qunguan.envelopes import queries as envelope_queries
from qunguan.envelopes.ledger import Move
from qunguan.envelopes.models import (
    AccountKind,
    Envelope,
    EnvelopeClaim,
    EnvelopeFestivalTotal,
    EnvelopeLimit,
    EnvelopeStatus,
    LedgerAccount,
    Split,
)
from qunguan.envelopes.providers import get_provider
from qunguan.envelopes.votebuying import festival_season
from qunguan.groups import ElectionPolicy, Group
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.identity import AccountKind as IdentityKind
from qunguan.identity import queries as identity_queries
from qunguan.kernel.clock import CHINA
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.restrictions import Function, require_allowed
from qunguan.kernel.text import require_reason
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.screening import ALLOW, ScreeningContext, Verdict, VerdictKind

_random = secrets.SystemRandom()


def _is_postgres(uow: UnitOfWork) -> bool:
    return uow.session.get_bind().dialect.name == "postgresql"


# --- wallet top-up (sandbox provider) ------------------------------------------------------


def do_topup(uow: UnitOfWork, *, acting: Account, amount_fen: int,
             idempotency_key: str) -> LedgerAccount:
    """Pay ``amount_fen`` in through the provider and mirror it in the member's wallet.

    PAY-2: the payer is real-name verified. A retry with the same key moves nothing more. A
    sanction taking away red envelopes takes top-ups too (anywhere: a wallet has no group)."""
    identity_queries.require_verified(acting)
    require_allowed(uow, account_id=acting.id, function=Function.RED_ENVELOPES)
    limit = uow.settings.wallet_topup_max_fen
    if amount_fen > limit:
        raise QunguanError("topup_over_limit", f"A top-up may be at most {limit} fen.",
                           max_fen=limit)
    key = f"topup:{acting.id}:{idempotency_key}"
    first = ledger.find_transaction(uow, key)
    if first is not None:
        _same_request(first.reference, f"topup:{amount_fen}:", key)
        return ledger.wallet(uow, acting.id)
    provider = get_provider(uow.settings.payment_provider)
    payment = provider.create_payment(uow, payer_id=acting.id, amount_fen=amount_fen,
                                      reference=key)
    provider.capture(uow, payment.external_id)
    target = ledger.wallet(uow, acting.id)
    source = ledger.clearing(uow, provider.name)
    txn, created = ledger.post(uow, [Move(source, target, amount_fen)], idempotency_key=key,
                               kind="topup", acting_id=acting.id,
                               reference=f"topup:{amount_fen}:{payment.external_id}")
    if not created:  # a concurrent retry won: undo this attempt's provider payment
        provider.refund(uow, payment.external_id, amount_fen)
        _same_request(txn.reference, f"topup:{amount_fen}:", key)
        return target
    record_audit(uow, EventType.WALLET_TOPPED_UP, acting=acting, subject_type="ledger_account",
                 subject_id=target.id, extra={"amount_fen": amount_fen,
                                              "provider": provider.name,
                                              "payment": payment.external_id})
    uow.emit(EventType.WALLET_TOPPED_UP, account_ids=(acting.id,), amount_fen=amount_fen,
             balance_fen=target.balance)
    return target


def _same_request(reference: str | None, prefix: str, key: str) -> None:
    if not (reference or "").startswith(prefix):
        raise QunguanError("idempotency_key_reused", "This Idempotency-Key was used for a "
                           "different request.")


# --- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElectionRule:
    """The election policy an envelope falls under (PAY-3), with the reason in words."""

    election_id: int
    policy: ElectionPolicy
    reason: str  # English: the API's errors, audit records
    reason_zh: str = ""  # the same in Chinese, for the sender's page in zh_CN


@dataclass(frozen=True)
class SendPlan:
    group: Group
    total_fen: int
    parts: int
    split: Split
    recipient_id: int | None
    ledger_key: str
    existing: Envelope | None  # a retry: the envelope the first request created
    election: ElectionRule | None = None
    screening: Verdict = ALLOW  # the pre-send gate's verdict (hits recorded with the send)

    @property
    def held(self) -> bool:
        return (self.election is not None and self.election.policy == ElectionPolicy.HOLD) \
            or self.screening.kind == VerdictKind.HOLD

    def _hold_reasons(self, zh: bool) -> list[str]:
        """Why it waits for a reviewer: the screening rules' reasons first (what this
        envelope would complete), then the election's; in Chinese or English."""
        if not self.held:
            return []
        texts = [r.text_zh if zh else r.text_en for r in self.screening.reasons]
        if self.election is not None and self.election.policy == ElectionPolicy.HOLD:
            texts.append(self.election.reason_zh if zh else self.election.reason)
        return [t.strip() for t in texts if t.strip()]

    @property
    def hold_reason(self) -> str | None:
        """Why it is held, in English: the API's ``hold_reason`` and the audit records."""
        texts = self._hold_reasons(zh=False)
        return " ".join(texts)[:500] if self.held else None

    @property
    def hold_reason_zh(self) -> str | None:
        """The same in Chinese, for the sender's page (sentences joined as Chinese is, with
        no space after 。)."""
        texts = self._hold_reasons(zh=True)
        return "".join(t if t.endswith(("。", "！", "？")) else t + "。" for t in texts)[:500] \
            if self.held else None


def _send_key(acting: Account, idempotency_key: str) -> str:
    return f"envelope-send:{acting.id}:{idempotency_key}"


def _require_can_use(uow: UnitOfWork, acting: Account, group_id: int) -> Group:
    identity_queries.require_verified(acting)
    group, _ = group_queries.access_membership(uow, viewer=acting, group_id=group_id)
    require_allowed(uow, account_id=acting.id, function=Function.RED_ENVELOPES,
                    group_id=group.id)
    return group


def check_send_envelope(uow: UnitOfWork, *, acting: Account, group_id: int, total_fen: int,
                        parts: int, split: Split, idempotency_key: str,
                        recipient_id: int | None = None) -> SendPlan:
    """Validate and authorise; no writes. Raises a documented QunguanError."""
    group = _require_can_use(uow, acting, group_id)
    key = _send_key(acting, idempotency_key)
    first = ledger.find_transaction(uow, key)
    if first is not None:
        envelope = _same_envelope(_envelope_of(uow, first.reference), group.id, total_fen,
                                  parts, split, recipient_id)
        return SendPlan(group, total_fen, parts, split, recipient_id, key, envelope)
    settings = uow.settings
    _require_within_limit(envelope_queries.envelope_limits(uow, group), total_fen)
    if parts > settings.envelope_max_parts:
        raise QunguanError("too_many_parts", "More parts than allowed.", reason="maximum",
                           max_parts=settings.envelope_max_parts)
    if parts > total_fen:
        raise QunguanError("too_many_parts", "Every part needs at least one fen.",
                           reason="more_parts_than_fen", max_parts=total_fen)
    members = group_queries.member_ids(uow, group.id)
    if parts > len(members):
        raise QunguanError("too_many_parts", "More parts than the group has members.",
                           reason="more_parts_than_members", max_parts=len(members))
    if recipient_id is not None:
        if recipient_id == acting.id or recipient_id not in members:
            raise QunguanError("invalid_request", "The recipient must be another member of "
                               "the group.", fields=["recipient_id"])
        if parts != 1:
            raise QunguanError("too_many_parts", "An envelope to one member has one part.",
                               reason="one_recipient", max_parts=1)
    if split == Split.FIXED and total_fen % parts:
        raise QunguanError("uneven_split", "A fixed split needs a total divisible by the "
                           "parts.", total_fen=total_fen, parts=parts)
    _require_daily_room(uow, acting, total_fen)
    rule = election_rule(uow, acting.id, group)
    if rule is not None and rule.policy == ElectionPolicy.BLOCK:
        election = group_queries.elections_covering(uow, group, at=uow.now())
        ends = next((e.ends_at for e in election if e.id == rule.election_id), None)
        raise QunguanError("envelope_election_blocked", rule.reason,
                           election_id=rule.election_id, policy=str(rule.policy),
                           ends_at=ends.isoformat() if ends else None)
    verdict = _screen(uow, acting, group, total_fen, parts, split, recipient_id)
    return SendPlan(group, total_fen, parts, split, recipient_id, key, None, rule, verdict)


_OVER_LIMIT = {  # details.reason and the sentence, by the limit that binds
    envelope_queries.LimitSource.DEFAULT: ("envelope", "The envelope exceeds the limit."),
    envelope_queries.LimitSource.STRICT: ("category", "The envelope exceeds the limit of this "
                                          "kind of group."),
    envelope_queries.LimitSource.CATEGORY: ("category", "The envelope exceeds the limit of "
                                            "this kind of group."),
    envelope_queries.LimitSource.GROUP: ("group", "The envelope exceeds this group's limit."),
}


def _require_within_limit(limits: envelope_queries.EnvelopeLimits, total_fen: int) -> None:
    """The strictest per-envelope limit of the group: the default, PAY-4's cap in strict
    categories, the category's setting, the officers' override (``envelope_limits``)."""
    if total_fen <= limits.max_fen:
        return
    reason, sentence = _OVER_LIMIT[limits.source]
    extra: dict[str, Any] = {"max_fen": limits.max_fen, "reason": reason}
    if reason != "envelope":
        extra["category"] = limits.category
    raise QunguanError("envelope_over_limit", sentence, **extra)


def election_rule(uow: UnitOfWork, sender_id: int, group: Group) -> ElectionRule | None:
    """The strictest election policy over the group now (PAY-3): each covering election's
    policy, raised to QUNGUAN_ELECTION_STRICT_POLICY in strict categories (PAY-4), and to
    ``hold`` at least when the sender is one of its candidates or their associates."""
    elections = group_queries.elections_covering(uow, group, at=uow.now())
    if not elections:
        return None
    people = group_queries.election_people(uow, [e.id for e in elections])
    standing = {(p.election_id, p.account_id): p.role for p in people}
    best: ElectionRule | None = None
    for election in elections:
        policy = group_queries.effective_policy(election, group,
                                                uow.settings.election_strict_policy)
        reason = (f"The election {election.name!r} (until {election.ends_at.isoformat()}) "
                  f"applies the policy {policy} to red envelopes in this group.")
        reason_zh = _ELECTION_REASONS_ZH[policy].format(name=election.name,
                                                        date=_china_time(election.ends_at))
        role = standing.get((election.id, sender_id))
        if role is not None and policy.strength < ElectionPolicy.HOLD.strength:
            policy = ElectionPolicy.HOLD
            reason = (f"You are a {role} in the election {election.name!r}: your red "
                      "envelopes in its groups wait for a reviewer.")
            reason_zh = (f"您是选举“{election.name}”的"
                         f"{'候选人' if role == 'candidate' else '候选人的关联人'}，"
                         "您在相关群内发出的红包须经审核。")
        if best is None or policy.strength > best.policy.strength:
            best = ElectionRule(election.id, policy, reason, reason_zh)
    return best


# An election's reason in Chinese, by policy: for the sender's page in zh_CN.
_ELECTION_REASONS_ZH = {
    ElectionPolicy.HOLD: "选举“{name}”期间（截至 {date}），本群红包须经审核后才能领取。",
    ElectionPolicy.BLOCK: "选举“{name}”期间（截至 {date}），本群不能发红包。",
    ElectionPolicy.DISCLOSE: "选举“{name}”期间（截至 {date}），本群红包将登记备案，供选举"
                             "委员会查阅。",
}


def _china_time(moment: datetime) -> str:
    """A time as a Chinese reader reads it: Beijing time, e.g. 2026年12月1日 18:00（北京时间）."""
    local = moment.astimezone(CHINA)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（北京时间）"


def _same_envelope(envelope: Envelope | None, group_id: int, total_fen: int, parts: int,
                   split: Split, recipient_id: int | None) -> Envelope:
    """The envelope a retried Idempotency-Key sent first, if the retry asks for the same."""
    if (envelope is None or envelope.group_id != group_id or envelope.total_fen != total_fen
            or envelope.parts != parts or envelope.split != split
            or envelope.recipient_id != recipient_id):
        raise QunguanError("idempotency_key_reused", "This Idempotency-Key was used for a "
                           "different envelope.")
    return envelope


def _require_daily_room(uow: UnitOfWork, acting: Account, total_fen: int) -> None:
    since = uow.now() - timedelta(days=1)
    sent = int(uow.session.scalar(select(func.coalesce(func.sum(Envelope.total_fen), 0)).where(
        Envelope.sender_id == acting.id, Envelope.created_at > since)) or 0)
    limit = uow.settings.envelope_daily_max_fen
    if sent + total_fen > limit:
        raise QunguanError("envelope_daily_limit", "Your daily total would be exceeded.",
                           max_fen=limit, sent_fen=sent)


def _screen(uow: UnitOfWork, acting: Account, group: Group, total_fen: int, parts: int,
            split: Split, recipient_id: int | None) -> Verdict:
    """The screening gate for a send (issue 5 part 5): detectors see action "envelope" and
    the amounts in ``extra`` (the vote-buying detector among them, ``envelopes.detector``).
    A rule's ``block`` refuses the envelope (``envelope_blocked``); ``hold`` sends it held
    for a reviewer (``do_send_envelope``); a ``label`` or ``confirm`` lets it go with the
    hit recorded (an envelope has no label to show, and nothing to confirm)."""
    context = ScreeningContext(
        action="envelope", account_id=acting.id, account_verified=acting.is_verified,
        group_id=group.id, group_category=group.category, group_tier=group.tier, text="",
        fingerprint="", extra={"total_fen": total_fen, "parts": parts, "split": str(split),
                               "recipient_id": recipient_id})
    verdict = screening.gate(uow, context)
    if verdict.kind == VerdictKind.BLOCK:
        raise QunguanError("envelope_blocked", "This envelope cannot be sent.",
                           reasons=verdict.public_reasons())
    return verdict


class _Duplicate(Exception):
    """A concurrent request with the same Idempotency-Key committed first."""


def do_send_envelope(uow: UnitOfWork, plan: SendPlan, *, acting: Account) -> Envelope:
    """One transaction: the envelope, the wallet → escrow postings, the audit record, the
    outbox event. A retry (same key) returns the first envelope and moves nothing."""
    if plan.existing is not None:
        return plan.existing
    provider = get_provider(uow.settings.payment_provider)
    # The daily total again, under the sender's wallet lock: two concurrent sends on
    # PostgreSQL both passed the check above before either wrote its envelope.
    wallet = ledger.wallet(uow, acting.id)
    uow.session.execute(select(LedgerAccount.id).where(LedgerAccount.id == wallet.id)
                        .with_for_update())
    _require_daily_room(uow, acting, plan.total_fen)
    now = uow.now()
    try:
        with uow.savepoint():
            rule = plan.election
            held = plan.held
            envelope = Envelope(
                group_id=plan.group.id, sender_id=acting.id, recipient_id=plan.recipient_id,
                split=str(plan.split), total_fen=plan.total_fen, parts=plan.parts,
                remaining_parts=plan.parts, remaining_fen=plan.total_fen,
                status=str(EnvelopeStatus.HELD if held else EnvelopeStatus.OPEN),
                provider=provider.name, created_at=now,
                expires_at=now + timedelta(seconds=uow.settings.envelope_expiry_seconds),
                refunded_fen=0, election_id=rule.election_id if rule else None,
                election_policy=str(rule.policy) if rule else None,
                hold_reason=plan.hold_reason, hold_reason_zh=plan.hold_reason_zh,
                group_member_count=plan.group.member_count)
            uow.session.add(envelope)
            uow.session.flush()
            escrow = ledger.get_or_create_account(uow, ledger.escrow_key(envelope.id),
                                                  AccountKind.ESCROW, envelope.id)
            _, created = ledger.post(uow, [Move(ledger.wallet(uow, acting.id), escrow,
                                                plan.total_fen)],
                                     idempotency_key=plan.ledger_key, kind="envelope_send",
                                     acting_id=acting.id, reference=f"envelope:{envelope.id}")
            if not created:
                raise _Duplicate
    except _Duplicate:  # a concurrent retry committed first: answer with its envelope
        first = ledger.find_transaction(uow, plan.ledger_key)
        return _same_envelope(_envelope_of(uow, first.reference if first else None),
                              plan.group.id, plan.total_fen, plan.parts, plan.split,
                              plan.recipient_id)
    _add_to_festival_total(uow, envelope, +1)
    extra: dict[str, Any] = {"total_fen": plan.total_fen, "parts": plan.parts,
                             "split": str(plan.split), "recipient_id": plan.recipient_id,
                             "provider": provider.name, "election_id": envelope.election_id,
                             "election_policy": envelope.election_policy}
    record_audit(uow, EventType.ENVELOPE_SENT, acting=acting, subject_type="envelope",
                 subject_id=envelope.id, group_id=plan.group.id, extra=extra)
    # Every screening rule that fired (shadow ones too) is kept, as for a message.
    screening.record_hits(uow, plan.screening, message_id=None, group_id=plan.group.id,
                          account_id=acting.id)
    if envelope.status == EnvelopeStatus.HELD:
        # Members do not see it until a reviewer releases it; the sender is told why.
        rules = _screening_holds(plan.screening)
        record_audit(uow, EventType.ENVELOPE_HELD, acting=acting, subject_type="envelope",
                     subject_id=envelope.id, group_id=plan.group.id,
                     extra={"election_id": envelope.election_id, "reason": envelope.hold_reason,
                            "rules": [r["rule"] for r in rules]})
        uow.emit(EventType.ENVELOPE_HELD, account_ids=(acting.id,), envelope_id=envelope.id,
                 target_group_id=plan.group.id, sender_id=acting.id,
                 election_id=envelope.election_id, reason=envelope.hold_reason,
                 total_fen=plan.total_fen, parts=plan.parts, screening=rules)
    else:
        uow.emit(EventType.ENVELOPE_SENT, group_id=plan.group.id, envelope_id=envelope.id,
                 sender_id=acting.id, **extra)
    return envelope


def _screening_holds(verdict: Verdict) -> list[dict[str, Any]]:
    """The enforced screening rules that hold the envelope, with what their detectors saw,
    for the review item (``handlers.on_envelope_held``)."""
    return [{"rule": h.rule, "detector": h.detectors, "severity": h.severity,
             "explanation": " ".join(str(s.evidence.get("explanation", "")) for s in h.signals
                                     ).strip() or h.reason.text_en,
             "signals": [s.public() for s in h.signals]}
            for h in verdict.hits if h.mode == "enforce" and h.action == VerdictKind.HOLD]


def _add_to_festival_total(uow: UnitOfWork, envelope: Envelope, sign: int) -> None:
    """Keep the sender's festival habit (``EnvelopeFestivalTotal``): the envelope's total
    added (``sign`` +1, at the send) or taken back (-1, a refusal), when it was sent on a
    festival day; one upsert, nothing on an ordinary day."""
    season = festival_season(envelope.created_at)
    if season is None:
        return
    insert = pg_insert if _is_postgres(uow) else sqlite_insert
    stmt = insert(EnvelopeFestivalTotal).values(
        sender_id=envelope.sender_id, group_id=envelope.group_id, season=season,
        total_fen=sign * envelope.total_fen, envelopes=sign)
    uow.session.execute(stmt.on_conflict_do_update(
        index_elements=["sender_id", "group_id", "season"],
        set_={"total_fen": EnvelopeFestivalTotal.total_fen + sign * envelope.total_fen,
              "envelopes": EnvelopeFestivalTotal.envelopes + sign}))


def _envelope_of(uow: UnitOfWork, reference: str | None) -> Envelope | None:
    if not reference or not reference.startswith("envelope:"):
        return None
    return uow.session.get(Envelope, int(reference.split(":", 1)[1]))


# --- claiming --------------------------------------------------------------------------------


def _locked_envelope(uow: UnitOfWork, envelope_id: int) -> Envelope | None:
    stmt = select(Envelope).where(Envelope.id == envelope_id).execution_options(
        populate_existing=True)
    if _is_postgres(uow):
        # Claims of one envelope queue here; SQLite already runs one writer at a time.
        stmt = stmt.with_for_update()
    return uow.session.scalar(stmt)


def draw(split: str, remaining_parts: int, remaining_fen: int) -> int:
    """The next part: fixed, or the double-average rule (uniform in [1, 2 × remaining mean],
    never leaving fewer fen than parts after it; the last part takes the rest)."""
    if remaining_parts == 1:
        return remaining_fen
    if split == Split.FIXED:
        return remaining_fen // remaining_parts
    high = min(2 * remaining_fen // remaining_parts, remaining_fen - (remaining_parts - 1))
    return _random.randint(1, max(1, high))


def do_claim_envelope(uow: UnitOfWork, *, acting: Account, envelope_id: int,
                      idempotency_key: str | None = None) -> EnvelopeClaim:
    """Take one part. A retry with the Idempotency-Key of the first claim returns it.

    The hot path of a red envelope, in as few round trips as its guarantees allow: the
    envelope row locked (every claim of one envelope queues there), its counters moved, the
    claim row inserted unless this member already holds one (the unique constraint answers,
    no lookup first), the escrow → wallet transaction written by key, then the audit record
    and the outbox event. Whatever fails, everything rolls back with the request."""
    identity_queries.require_verified(acting)
    # Authorise before taking the row lock, so a stranger's requests never make the group's
    # claimers wait behind them.
    seen = uow.session.get(Envelope, envelope_id)
    if seen is None:
        raise QunguanError("not_found", "No such envelope.")
    _require_can_use(uow, acting, seen.group_id)
    envelope = _locked_envelope(uow, envelope_id)
    assert envelope is not None  # envelopes are never deleted
    if envelope.recipient_id is not None and envelope.recipient_id != acting.id:
        raise QunguanError("not_recipient", "This envelope was sent to another member.")
    now = uow.now()
    if (envelope.status != EnvelopeStatus.OPEN or now >= envelope.expires_at
            or envelope.remaining_parts == 0):
        return _earlier_claim(uow, acting, envelope, idempotency_key, now)
    amount = draw(envelope.split, envelope.remaining_parts, envelope.remaining_fen)
    claim = _insert_claim(uow, envelope.id, acting.id, amount, now)
    if claim is None:  # this member holds a claim already; nothing has changed yet
        return _earlier_claim(uow, acting, envelope, idempotency_key, now)
    _take_part(uow, envelope, amount)
    # The claim row is this member's only one (unique constraint) and the envelope row is
    # locked: the claim key cannot have been posted, so no lookup and no savepoint.
    ledger.post_from_locked(
        uow, source_key=ledger.escrow_key(envelope.id),
        target=(ledger.wallet_key(acting.id), AccountKind.WALLET, acting.id), amount=amount,
        idempotency_key=_claim_key(envelope.id, acting.id), kind="envelope_claim",
        acting_id=acting.id, reference=f"envelope:{envelope.id}:{idempotency_key or ''}")
    record_audit(uow, EventType.ENVELOPE_CLAIMED, acting=acting, subject_type="envelope",
                 subject_id=envelope.id, group_id=envelope.group_id,
                 extra={"amount_fen": amount, "remaining_parts": envelope.remaining_parts})
    uow.emit(EventType.ENVELOPE_CLAIMED, group_id=envelope.group_id, envelope_id=envelope.id,
             account_id=acting.id, amount_fen=amount,
             remaining_parts=envelope.remaining_parts)
    return claim


def _take_part(uow: UnitOfWork, envelope: Envelope, amount: int) -> None:
    """The locked envelope's counters less one part of ``amount``, written at once on the
    connection (no ORM flush on the hot path) and mirrored in the loaded row."""
    parts, fen = envelope.remaining_parts - 1, envelope.remaining_fen - amount
    status = str(EnvelopeStatus.CLAIMED) if parts == 0 else envelope.status
    uow.session.connection().execute(
        update(Envelope).where(Envelope.id == envelope.id)
        .values(remaining_parts=parts, remaining_fen=fen, status=status))
    for name, value in (("remaining_parts", parts), ("remaining_fen", fen), ("status", status)):
        set_committed_value(envelope, name, value)


def _insert_claim(uow: UnitOfWork, envelope_id: int, account_id: int, amount: int,
                  now: datetime) -> EnvelopeClaim | None:
    """The claim row, or None when the member already holds one (nothing inserted). Runs on
    the connection, past the ORM's bulk-insert machinery (the hot path); the row it answers
    is not attached to the session."""
    insert = pg_insert if _is_postgres(uow) else sqlite_insert
    values = {"envelope_id": envelope_id, "account_id": account_id, "amount_fen": amount,
              "claimed_at": now}
    claim_id = uow.session.connection().execute(
        insert(EnvelopeClaim).values(values)
        .on_conflict_do_nothing(index_elements=["envelope_id", "account_id"])
        .returning(EnvelopeClaim.id)).scalar()
    return None if claim_id is None else EnvelopeClaim(id=claim_id, **values)


def _earlier_claim(uow: UnitOfWork, acting: Account, envelope: Envelope,
                   idempotency_key: str | None, now: datetime) -> EnvelopeClaim:
    """This member cannot take a new part (the envelope row is locked): their earlier claim
    when this is a retry with its key; otherwise the reason, in this order: claimed already,
    held, expired, empty."""
    mine = uow.session.scalar(select(EnvelopeClaim).where(
        EnvelopeClaim.envelope_id == envelope.id, EnvelopeClaim.account_id == acting.id))
    if mine is not None:
        first = ledger.find_transaction(uow, _claim_key(envelope.id, acting.id))
        if idempotency_key and first is not None and first.reference == (
                f"envelope:{envelope.id}:{idempotency_key}"):
            return mine
        raise QunguanError("already_claimed", "You have already claimed this envelope.",
                           amount_fen=mine.amount_fen)
    if envelope.status == EnvelopeStatus.HELD:
        # Why it is held is for its sender and officers (GET /api/envelopes/{id}), not for
        # a member trying to open it.
        raise QunguanError("envelope_held", "The envelope is held for review.")
    if envelope.status in (EnvelopeStatus.REFUNDED, EnvelopeStatus.REFUSED) or \
            now >= envelope.expires_at:
        raise QunguanError("envelope_expired", "The envelope has expired.",
                           expired_at=envelope.expires_at.isoformat())
    raise QunguanError("envelope_empty", "Every part has been claimed.")


def _claim_key(envelope_id: int, account_id: int) -> str:
    return f"envelope-claim:{envelope_id}:{account_id}"


# --- refunds ---------------------------------------------------------------------------------


def refund_key(envelope_id: int) -> str:
    return f"envelope-refund:{envelope_id}"


def due_for_refund(uow: UnitOfWork, limit: int = 100, after_id: int = 0) -> list[int]:
    """Expired open envelopes, a page of ``limit`` in id order after ``after_id``: a worker
    walks every page, so envelopes that keep failing cannot hold the others back."""
    return list(uow.session.scalars(select(Envelope.id).where(
        Envelope.status == str(EnvelopeStatus.OPEN), Envelope.expires_at <= uow.now(),
        Envelope.id > after_id).order_by(Envelope.id).limit(limit)))


def _give_back(uow: UnitOfWork, envelope: Envelope, acting: Account,
               status: EnvelopeStatus) -> bool:
    """The envelope's remainder back to its sender's wallet under the envelope's one refund
    key, and the envelope closed with ``status``; False if that key was already posted."""
    amount = envelope.remaining_fen
    if amount > 0:
        escrow = ledger.find_account(uow, ledger.escrow_key(envelope.id))
        assert escrow is not None
        _, created = ledger.post(uow, [Move(escrow, ledger.wallet(uow, envelope.sender_id),
                                            amount)],
                                 idempotency_key=refund_key(envelope.id), kind="envelope_refund",
                                 acting_id=acting.id, reference=f"envelope:{envelope.id}")
        if not created:
            return False
    envelope.status = str(status)
    envelope.refunded_at = uow.now()
    envelope.refunded_fen = amount
    envelope.remaining_fen = 0
    return True


def do_refund_envelope(uow: UnitOfWork, *, acting: Account, envelope_id: int) -> int | None:
    """Return an expired envelope's remainder to its sender; the fen refunded, or None when
    there was nothing to do (not expired, or already refunded by another worker).

    Exactly once: the row is locked (PostgreSQL) or the writer serialised (SQLite) and its
    status re-read before anything moves, and the ledger key is derived from the envelope id,
    so even a second transaction that got past the status could not post twice."""
    envelope = _locked_envelope(uow, envelope_id)
    if (envelope is None or envelope.status != EnvelopeStatus.OPEN
            or envelope.expires_at > uow.now()):
        return None
    amount = envelope.remaining_fen
    if not _give_back(uow, envelope, acting, EnvelopeStatus.REFUNDED):
        return None
    record_audit(uow, EventType.ENVELOPE_REFUNDED, acting=acting, subject_type="envelope",
                 subject_id=envelope.id, group_id=envelope.group_id,
                 extra={"amount_fen": amount, "sender_id": envelope.sender_id})
    uow.emit(EventType.ENVELOPE_REFUNDED, group_id=envelope.group_id, envelope_id=envelope.id,
             account_ids=(envelope.sender_id,), amount_fen=amount)
    return amount


# --- held envelopes: a reviewer's decision (PAY-3) --------------------------------------------


def _locked_held(uow: UnitOfWork, envelope_id: int) -> Envelope:
    envelope = _locked_envelope(uow, envelope_id)
    if envelope is None:
        raise QunguanError("not_found", "No such envelope.")
    if envelope.status != EnvelopeStatus.HELD:
        raise QunguanError("envelope_not_held", "The envelope is not held.",
                           status=envelope.status)
    return envelope


def do_release_envelope(uow: UnitOfWork, *, acting: Account, envelope_id: int,
                        reason: str) -> Envelope:
    """A reviewer released a held envelope: it opens for claims, with a fresh expiry."""
    identity_queries.require_officer(acting)
    envelope = _locked_held(uow, envelope_id)
    envelope.status = str(EnvelopeStatus.OPEN)
    envelope.expires_at = uow.now() + timedelta(seconds=uow.settings.envelope_expiry_seconds)
    record_audit(uow, EventType.ENVELOPE_RELEASED, acting=acting, subject_type="envelope",
                 subject_id=envelope.id, group_id=envelope.group_id,
                 extra={"reason": reason, "election_id": envelope.election_id})
    uow.emit(EventType.ENVELOPE_RELEASED, group_id=envelope.group_id, envelope_id=envelope.id,
             sender_id=envelope.sender_id, total_fen=envelope.total_fen, parts=envelope.parts,
             split=envelope.split, recipient_id=envelope.recipient_id)
    return envelope


def do_refuse_envelope(uow: UnitOfWork, *, acting: Account, envelope_id: int,
                       reason: str) -> Envelope:
    """A reviewer refused a held envelope: its whole total goes back to the sender, exactly
    once (the ledger key is the envelope's refund key: a held envelope never expires)."""
    identity_queries.require_officer(acting)
    envelope = _locked_held(uow, envelope_id)
    amount = envelope.remaining_fen
    assert amount == envelope.total_fen  # nothing is claimed from a held envelope
    given = _give_back(uow, envelope, acting, EnvelopeStatus.REFUSED)
    assert given, f"refusal of envelope {envelope.id} posted twice"
    _add_to_festival_total(uow, envelope, -1)  # never given: not part of the habit
    record_audit(uow, EventType.ENVELOPE_REFUSED, acting=acting, subject_type="envelope",
                 subject_id=envelope.id, group_id=envelope.group_id,
                 extra={"reason": reason, "amount_fen": amount,
                        "election_id": envelope.election_id})
    uow.emit(EventType.ENVELOPE_REFUSED, account_ids=(envelope.sender_id,),
             envelope_id=envelope.id, amount_fen=amount, reason=reason)
    return envelope


# --- per-group limits (officers) ---------------------------------------------------------------


def _officer_group(uow: UnitOfWork, acting: Account, group_id: int) -> Group:
    identity_queries.require_officer(acting)
    return group_queries.access_group(uow, viewer=acting, group_id=group_id)


def do_set_envelope_limit(uow: UnitOfWork, *, acting: Account, group_id: int, max_fen: int,
                          reason: str) -> envelope_queries.EnvelopeLimits:
    """An officer sets the most one red envelope may hold in a group, with a reason.

    It only tightens: an override above the group's limit without it (the default, PAY-4's
    cap, the category's setting) is refused with ``envelope_limit_invalid``, since a looser
    group would lift a limit the institution set for the whole category. Setting it again
    replaces it."""
    group = _officer_group(uow, acting, group_id)
    reason = require_reason(reason)
    # Two officers at once: the group row is the lock (PostgreSQL; SQLite has one writer).
    if _is_postgres(uow):
        uow.session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    limits = envelope_queries.envelope_limits(uow, group)
    if not 1 <= max_fen <= limits.ceiling_fen:
        raise QunguanError("envelope_limit_invalid", "A group's limit may only be stricter "
                           "than the limit it would have without one.", max_fen=max_fen,
                           ceiling_fen=limits.ceiling_fen, fields=["max_fen"])
    row = limits.override
    previous = row.max_fen if row is not None else None
    if row is None:
        row = EnvelopeLimit(group_id=group.id, max_fen=max_fen, reason=reason,
                            set_by=acting.id, set_at=uow.now())
        uow.session.add(row)
    else:
        row.max_fen, row.reason, row.set_by, row.set_at = max_fen, reason, acting.id, uow.now()
    uow.session.flush()
    record_audit(uow, EventType.ENVELOPE_LIMIT_SET, acting=acting, subject_type="group",
                 subject_id=group.id, group_id=group.id,
                 extra={"max_fen": max_fen, "previous_fen": previous,
                        "ceiling_fen": limits.ceiling_fen, "reason": reason})
    uow.emit(EventType.ENVELOPE_LIMIT_SET, target_group_id=group.id, max_fen=max_fen,
             previous_fen=previous)
    return envelope_queries.envelope_limits(uow, group)


def do_clear_envelope_limit(uow: UnitOfWork, *, acting: Account, group_id: int,
                            reason: str) -> envelope_queries.EnvelopeLimits:
    """An officer clears a group's override, with a reason: the category's limit or the
    default applies again. ``envelope_limit_not_set`` when there is none."""
    group = _officer_group(uow, acting, group_id)
    reason = require_reason(reason)
    if _is_postgres(uow):
        uow.session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    row = envelope_queries.group_limit(uow, group.id)
    if row is None:
        raise QunguanError("envelope_limit_not_set", "This group has no limit of its own.")
    previous = row.max_fen
    uow.session.delete(row)
    uow.session.flush()
    record_audit(uow, EventType.ENVELOPE_LIMIT_CLEARED, acting=acting, subject_type="group",
                 subject_id=group.id, group_id=group.id,
                 extra={"previous_fen": previous, "reason": reason})
    uow.emit(EventType.ENVELOPE_LIMIT_CLEARED, target_group_id=group.id, previous_fen=previous)
    return envelope_queries.envelope_limits(uow, group)


# --- the PAY-5 export -------------------------------------------------------------------------


def do_export_envelopes(uow: UnitOfWork, *, acting: Account, filters: export.ExportFilters,
                        fmt: str, request_reference: str) -> str:
    """The red-envelope trail in ``fmt`` (json or csv) for a discipline inspection request;
    officers only (the CLI acts as the system account), and the export itself is audited."""
    if not acting.is_officer and acting.kind != IdentityKind.SYSTEM:
        raise QunguanError("forbidden", "Only officers may export the red-envelope trail.")
    reference = request_reference.strip()
    if not reference:
        raise QunguanError("invalid_request", "Name the request this export answers.",
                           fields=["request_reference"])
    rows = export.collect(uow, filters)
    content = (export.to_json(rows, filters, reference, uow.now()) if fmt == "json"
               else export.to_csv(rows))
    record_audit(uow, EventType.ENVELOPES_EXPORTED, acting=acting, subject_type="envelopes",
                 subject_id=None, group_id=filters.group_id,
                 extra={"format": fmt, "filters": filters.as_dict(), "rows": len(rows),
                        "request_reference": reference[:200]})
    uow.emit(EventType.ENVELOPES_EXPORTED, format=fmt, rows=len(rows),
             request_reference=reference[:200])
    return content
