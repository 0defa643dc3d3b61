"""Every state change of screening: loading a policy pack, recording the rules that fired,
and post-send screening of delivered messages (an outbox handler)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text, update

from qunguan.groups import Group
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import Event, EventType
from qunguan.kernel.outbox import register_handler
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.screening import errors  # noqa: F401  (defines the error codes)
from qunguan.screening.engine import forget_active_pack, screen_delivered
from qunguan.screening.models import PolicyPack, ScreeningHit
from qunguan.screening.policy import Pack, PackInvalid, parse_pack
from qunguan.screening.registry import ScreeningContext
from qunguan.screening.verdicts import Hit, Verdict, VerdictKind


def check_pack(files: dict[str, str]) -> Pack:
    """Validate a pack without loading it (the console's "check"): invalid_policy_pack lists
    every problem with its file and line."""
    try:
        return parse_pack(files)
    except PackInvalid as exc:
        raise QunguanError("invalid_policy_pack", "The policy pack is not valid.",
                           errors=[{"file": e.file, "line": e.line, "message": e.message}
                                   for e in exc.errors]) from None


def do_load_pack(uow: UnitOfWork, files: dict[str, str], *, acting: Account) -> PolicyPack:
    """Validate a pack and make it the active one, as the next version. An invalid pack
    raises invalid_policy_pack and changes nothing."""
    pack = check_pack(files)
    if uow.session.get_bind().dialect.name == "postgresql":
        # Two loads at once (two operators, two `qunguan policy load`) would both read the
        # same max version and one would fail on the unique version. Loads are rare, so they
        # simply take turns; readers are not blocked (SQLite serialises writers anyway).
        uow.session.execute(text("LOCK TABLE policy_packs IN SHARE ROW EXCLUSIVE MODE"))
    version = (uow.session.scalar(select(func.max(PolicyPack.version))) or 0) + 1
    uow.session.execute(update(PolicyPack).where(PolicyPack.active).values(active=False))
    row = PolicyPack(version=version, name=pack.name, description=pack.description,
                     digest=pack.digest, files=pack.files, rule_count=len(pack.rules),
                     active=True, loaded_at=uow.now(), loaded_by=acting.id)
    uow.session.add(row)
    uow.session.flush()
    record_audit(uow, EventType.POLICY_LOADED, acting=acting, subject_type="policy_pack",
                 subject_id=version,
                 extra={"version": version, "name": pack.name, "digest": pack.digest,
                        "rules": {r.id: r.mode for r in pack.rules},
                        "lexicons": {k: len(v) for k, v in pack.lexicons.items()}})
    uow.emit(EventType.POLICY_LOADED, version=version, name=pack.name, digest=pack.digest)
    forget_active_pack(uow)
    return row


def record_hits(uow: UnitOfWork, hits: Verdict | list[Hit] | tuple[Hit, ...], *,
                message_id: int | None, group_id: int, account_id: int) -> list[ScreeningHit]:
    """Write one row per rule that fired (enforce and shadow alike), in the caller's
    transaction: with the message, or with the audit record of a blocked attempt."""
    rows = []
    for hit in (hits.hits if isinstance(hits, Verdict) else hits):
        row = ScreeningHit(message_id=message_id, group_id=group_id, account_id=account_id,
                           pack_version=hit.pack_version, rule_id=hit.rule, mode=hit.mode,
                           action=hit.action.label, severity=hit.severity,
                           detector=hit.detectors[:200], stage=hit.stage,
                           signals=[s.public() for s in hit.signals], created_at=uow.now())
        uow.session.add(row)
        rows.append(row)
    return rows


def on_message_delivered(uow: UnitOfWork, event: Event) -> None:
    """Outbox handler: run post-send rules on a delivered message (posted, forwarded, or
    released from hold by a reviewer); record their hits and, when an enforced rule asks for
    hold or block, flag the message for review. Automation never removes or sanctions:
    enforcement opens a review item from SCREENING_FLAGGED."""
    message: Any = event.payload.get("message")
    if not isinstance(message, dict) or message.get("status") != "delivered" \
            or not message.get("text"):
        return
    group = uow.session.get(Group, int(message["group_id"]))
    if group is None:
        return
    sender_id = int(message["sender"]["id"])
    hop = int(message.get("hop") or 0)
    # A released message was held before delivery, so its post-send rules run now; it was
    # a forward when it has a hop.
    forward = event.type == EventType.MESSAGE_FORWARDED or (
        event.type == EventType.MESSAGE_RELEASED and hop > 0)
    context = ScreeningContext(
        action="forward" if forward else "post",
        account_id=sender_id, account_verified=True, group_id=group.id,
        group_category=group.category, group_tier=group.tier, text=str(message["text"]),
        fingerprint=str(message.get("fingerprint") or ""),
        origin_message_id=message.get("origin_id") if hop else None, hop=hop,
        message_id=int(message["id"]))
    hits = screen_delivered(uow, context)
    if not hits:
        return
    record_hits(uow, hits, message_id=context.message_id, group_id=group.id,
                account_id=sender_id)
    flagged = [h for h in hits if h.mode == "enforce" and h.action >= VerdictKind.HOLD]
    if not flagged:
        return
    system = identity_queries.system_account(uow)
    reasons = [h.reason.public() for h in flagged]
    severity = max(h.severity for h in flagged)
    rules = [h.rule for h in flagged]
    record_audit(uow, EventType.SCREENING_FLAGGED, acting=system, subject_type="message",
                 subject_id=context.message_id, group_id=group.id,
                 extra={"rules": rules, "severity": severity, "reasons": reasons,
                        "pack_version": flagged[0].pack_version, "sender_id": sender_id})
    # No group_id on the event itself: that would broadcast the flag to the group's members.
    uow.emit(EventType.SCREENING_FLAGGED, message_id=context.message_id,
             target_group_id=group.id, sender_id=sender_id, severity=severity,
             reasons=reasons, rules=rules, pack_version=flagged[0].pack_version,
             action=max(h.action for h in flagged).label)


register_handler(EventType.MESSAGE_POSTED, on_message_delivered)
register_handler(EventType.MESSAGE_FORWARDED, on_message_delivered)
register_handler(EventType.MESSAGE_RELEASED, on_message_delivered)
