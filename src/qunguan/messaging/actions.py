"""Every state change of messaging: post, forward with provenance, recall, delete.

``check_*`` validates and authorises without writing; ``do_*`` writes the rows, the audit
record and the outbox event in one transaction. Both pass through ``screening.gate``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qunguan import screening
from qunguan.groups import Group, Membership, Role
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.forward_limits import forward_limit
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.restrictions import Function, require_allowed
from qunguan.kernel.text import optional_text, require_storable
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.messaging.fingerprint import fingerprint
from qunguan.messaging.models import ForwardCount, Mention, Message, MessageStatus, ReadMarker
from qunguan.messaging.queries import access_message, render
from qunguan.screening import ScreeningContext, Verdict, VerdictKind

MAX_MENTIONS = 50


def _require_can_post(uow: UnitOfWork, acting: Account, group_id: int) -> tuple[Group,
                                                                                Membership]:
    identity_queries.require_verified(acting)
    group, mine = group_queries.access_membership(uow, viewer=acting, group_id=group_id)
    require_allowed(uow, account_id=acting.id, function=Function.POST, group_id=group.id)
    if group.posting_suspended:
        raise QunguanError("group_closed_for_posting", "Posting in this group is suspended.")
    if mine.muted_until is not None and mine.muted_until > uow.now():
        raise QunguanError("muted", "You are muted in this group.",
                           until=mine.muted_until.isoformat())
    return group, mine


def _is_blank(text: str) -> bool:
    """Only whitespace or invisible format characters (zero-width space, BOM…): a message
    that would render as nothing."""
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in text)


def check_text(uow: UnitOfWork, text: str) -> str:
    limit = uow.settings.max_message_chars
    if len(text) > limit:  # first, so the scans below stay bounded
        raise QunguanError("message_too_long", f"At most {limit} characters.", max_chars=limit,
                           length=len(text))
    if _is_blank(text):
        raise QunguanError("message_empty", "Write something first.")
    return require_storable(text, "text")


def _context(uow: UnitOfWork, action: str, acting: Account, group: Group, text: str,
             digest: str, origin_id: int | None = None, hop: int = 0) -> ScreeningContext:
    # Screening may not query messages, so the flood and first-message counts come from here:
    # one round trip, two subqueries on the sender index.
    mine = (Message.group_id == group.id) & (Message.sender_id == acting.id)
    since = uow.now() - timedelta(seconds=screening.FLOOD_WINDOW_SECONDS)
    recent, earlier = uow.session.execute(select(
        select(func.count()).select_from(Message).where(mine, Message.created_at >= since)
        .scalar_subquery(),
        select(Message.id).where(mine).limit(1).scalar_subquery())).one()
    return ScreeningContext(action=action, account_id=acting.id,
                            account_verified=acting.is_verified, group_id=group.id,
                            group_category=group.category, group_tier=group.tier, text=text,
                            fingerprint=digest, origin_message_id=origin_id, hop=hop,
                            recent_messages=int(recent or 0), first_in_group=earlier is None)


def _enforce_verdict(uow: UnitOfWork, acting: Account, group: Group, verdict: Verdict,
                     confirmed: bool, text: str, digest: str) -> None:
    """Block refuses (keeping the record of the attempt, LR-3); confirm asks once."""
    if verdict.kind == VerdictKind.BLOCK:
        screening.record_hits(uow, verdict, message_id=None, group_id=group.id,
                              account_id=acting.id)
        record_audit(uow, EventType.MESSAGE_BLOCKED, acting=acting, subject_type="group",
                     subject_id=group.id, group_id=group.id,
                     extra={"text": text, "fingerprint": digest,
                            "reasons": verdict.public_reasons()})
        uow.emit(EventType.MESSAGE_BLOCKED, group_id=None, account_ids=(acting.id,),
                 target_group_id=group.id, fingerprint=digest,
                 reasons=verdict.public_reasons())
        raise QunguanError("message_blocked", "This message cannot be sent.",
                           reasons=verdict.public_reasons()).keep_writes()
    if verdict.kind == VerdictKind.CONFIRM and not confirmed:
        raise QunguanError("confirmation_required", "Please confirm before sending.",
                           reasons=verdict.public_reasons())


@dataclass(frozen=True)
class SendPlan:
    group: Group
    role: str
    text: str
    digest: str
    reply_to_id: int | None
    mentions: tuple[int, ...]
    verdict: Verdict
    confirmed: bool


def check_send_message(uow: UnitOfWork, *, acting: Account, group_id: int, text: str,
                       reply_to_id: int | None = None, mentions: list[int] | None = None,
                       confirmed: bool = False) -> SendPlan:
    group, mine = _require_can_post(uow, acting, group_id)
    text = check_text(uow, text)
    if reply_to_id is not None:
        target = access_message(uow, viewer=acting, message_id=reply_to_id)
        if target.group_id != group.id:
            raise QunguanError("not_found", "No such message to reply to.")
    wanted = tuple(dict.fromkeys(mentions or ()))
    if len(wanted) > MAX_MENTIONS:
        raise QunguanError("invalid_request", f"At most {MAX_MENTIONS} mentions.",
                           fields=["mentions"])
    members = set(group_queries.member_ids(uow, group.id)) if wanted else set()
    strangers = [a for a in wanted if a not in members]
    if strangers:
        raise QunguanError("invalid_request", "Mentioned accounts must be group members.",
                           fields=["mentions"], not_members=strangers)
    digest = fingerprint(text)
    verdict = screening.gate(uow, _context(uow, "post", acting, group, text, digest))
    return SendPlan(group, mine.role, text, digest, reply_to_id, wanted, verdict, confirmed)


def do_send_message(uow: UnitOfWork, plan: SendPlan, *, acting: Account) -> Message:
    group, verdict = plan.group, plan.verdict
    _enforce_verdict(uow, acting, group, verdict, plan.confirmed, plan.text, plan.digest)
    held = verdict.kind == VerdictKind.HOLD
    message = Message(group_id=group.id, sender_id=acting.id, text=plan.text,
                      reply_to_id=plan.reply_to_id, origin_id=None, parent_id=None, hop=0,
                      fingerprint=plan.digest,
                      status=MessageStatus.HELD if held else MessageStatus.DELIVERED,
                      verdict=verdict.kind.label, labels=verdict.public_reasons(),
                      created_at=uow.now())
    uow.session.add(message)
    uow.session.flush()
    screening.record_hits(uow, verdict, message_id=message.id, group_id=group.id,
                          account_id=acting.id)
    for account_id in plan.mentions:
        uow.session.add(Mention(message_id=message.id, account_id=account_id))
    type_ = EventType.MESSAGE_HELD if held else EventType.MESSAGE_POSTED
    record_audit(uow, type_, acting=acting, subject_type="message", subject_id=message.id,
                 group_id=group.id, extra={"fingerprint": plan.digest, "length": len(plan.text),
                                           "verdict": verdict.kind.label,
                                           "reasons": verdict.public_reasons(),
                                           "reply_to_id": plan.reply_to_id})
    view = render(uow, [message], sender=acting, sender_role=plan.role,
                  mentions=plan.mentions)[0]
    if held:  # only the sender learns of it; reviewers pick it up from the outbox
        uow.emit(type_, account_ids=(acting.id,), message=view)
    else:
        uow.emit(type_, group_id=group.id, account_ids=plan.mentions, message=view)
    return message


@dataclass(frozen=True)
class ForwardPlan:
    source: Message
    targets: tuple[tuple[Group, Verdict], ...]
    confirmed: bool


def check_forward(uow: UnitOfWork, *, acting: Account, message_id: int, group_ids: list[int],
                  confirmed: bool = False) -> ForwardPlan:
    identity_queries.require_verified(acting)
    require_allowed(uow, account_id=acting.id, function=Function.FORWARD)
    wanted = list(dict.fromkeys(group_ids))
    limit = uow.settings.max_forward_targets
    if not wanted:
        raise QunguanError("invalid_request", "Name at least one group.", fields=["group_ids"])
    if len(wanted) > limit:
        raise QunguanError("too_many_forwards", f"Forward to at most {limit} groups at once.",
                           max=limit, requested=len(wanted))
    source = _locked(uow, access_message(uow, viewer=acting, message_id=message_id),
                     shared=True)
    if source.recalled_at is not None or source.text is None:
        raise QunguanError("not_found", "No such message.")
    if source.status != MessageStatus.DELIVERED:
        raise QunguanError("not_found", "No such message.")
    origin = source.origin_id or source.id
    # Rumours' circuit breaker: a message spreading fast goes to one group at a time.
    limited = forward_limit(uow, message_id=source.id, origin_id=origin,
                            fingerprint=source.fingerprint)
    if limited is not None and len(wanted) > limited.max_targets:
        raise QunguanError("forward_limited", "This message is forwarded so often that it "
                           f"may go to at most {limited.max_targets} group(s) at a time.",
                           **{**limited.details, "max_targets": limited.max_targets,
                              "requested": len(wanted)})
    targets = []
    for group_id in wanted:
        group, _ = _require_can_post(uow, acting, group_id)
        verdict = screening.gate(uow, _context(uow, "forward", acting, group, source.text,
                                               source.fingerprint, origin, source.hop + 1))
        targets.append((group, verdict))
    return ForwardPlan(source, tuple(targets), confirmed)


def _bump_forwards(uow: UnitOfWork, origin_id: int, n: int) -> None:
    """Atomic increment, race-free on both backends (INSERT … ON CONFLICT DO UPDATE)."""
    dialect = uow.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ForwardCount).values(origin_id=origin_id, forwards=n)
    stmt = stmt.on_conflict_do_update(index_elements=[ForwardCount.origin_id],
                                      set_={"forwards": ForwardCount.forwards + n})
    uow.session.execute(stmt)


def do_forward(uow: UnitOfWork, plan: ForwardPlan, *, acting: Account) -> list[Message]:
    source = plan.source
    assert source.text is not None
    # Strictest first: a block among the targets is recorded and refused even when another
    # target only asks for confirmation.
    for group, verdict in sorted(plan.targets, key=lambda t: t[1].kind, reverse=True):
        _enforce_verdict(uow, acting, group, verdict, plan.confirmed, source.text,
                         source.fingerprint)
    origin = source.origin_id or source.id
    copies: list[Message] = []
    for group, verdict in plan.targets:
        held = verdict.kind == VerdictKind.HOLD
        copy = Message(group_id=group.id, sender_id=acting.id, text=source.text,
                       origin_id=origin, parent_id=source.id, hop=source.hop + 1,
                       fingerprint=source.fingerprint,
                       status=MessageStatus.HELD if held else MessageStatus.DELIVERED,
                       verdict=verdict.kind.label, labels=verdict.public_reasons(),
                       created_at=uow.now())
        uow.session.add(copy)
        copies.append(copy)
    uow.session.flush()
    for copy, (group, verdict) in zip(copies, plan.targets, strict=True):
        screening.record_hits(uow, verdict, message_id=copy.id, group_id=group.id,
                              account_id=acting.id)
    _bump_forwards(uow, origin, len(copies))
    views = render(uow, copies)
    for copy, view in zip(copies, views, strict=True):
        held = copy.status == MessageStatus.HELD
        record_audit(uow, EventType.MESSAGE_HELD if held else EventType.MESSAGE_FORWARDED,
                     acting=acting, subject_type="message", subject_id=copy.id,
                     group_id=copy.group_id,
                     extra={"origin_id": origin, "parent_id": source.id, "hop": copy.hop,
                            "fingerprint": copy.fingerprint, "verdict": copy.verdict})
        if held:
            uow.emit(EventType.MESSAGE_HELD, account_ids=(acting.id,), message=view)
        else:
            uow.emit(EventType.MESSAGE_FORWARDED, group_id=copy.group_id, message=view)
    return copies


def _withdraw(uow: UnitOfWork, message: Message, acting: Account, type_: EventType,
              reason: str | None = None, **more: object) -> Message:
    """Hide the text from members; the audit record keeps it as evidence, with the status
    the message had (a restore must not deliver a message that was still held)."""
    text, message.text = message.text, None
    message.recalled_at = uow.now()
    record_audit(uow, type_, acting=acting, subject_type="message", subject_id=message.id,
                 group_id=message.group_id,
                 extra={"text": text, "fingerprint": message.fingerprint,
                        "sender_id": message.sender_id, "reason": reason,
                        "status": message.status, **more})
    if message.status == MessageStatus.HELD:  # the group never saw it: tell only the sender
        uow.emit(type_, account_ids=(message.sender_id,), message_id=message.id)
    else:
        uow.emit(type_, group_id=message.group_id, message_id=message.id)
    return message


def _locked(uow: UnitOfWork, message: Message, *, shared: bool = False) -> Message:
    """Re-read the row under a lock, so that two withdrawals (or a withdrawal and a forward)
    racing on PostgreSQL cannot both act on the state they read before the other committed.
    SQLite needs none: its write transactions already run one at a time."""
    uow.session.refresh(message, with_for_update={"read": shared})
    return message


def lock(uow: UnitOfWork, message: Message) -> Message:
    """For other capabilities acting on a message (a reviewer's label): re-read it under a
    row lock, so a recall committed meanwhile is seen, not overwritten."""
    return _locked(uow, message)


def do_recall(uow: UnitOfWork, *, acting: Account, message_id: int) -> Message:
    message = _locked(uow, access_message(uow, viewer=acting, message_id=message_id))
    if message.sender_id != acting.id:
        raise QunguanError("forbidden", "Only the sender may recall a message.")
    if message.recalled_at is not None:
        raise QunguanError("already_recalled", "The message was already recalled.")
    window = uow.settings.recall_window_seconds
    if uow.now() - message.created_at > timedelta(seconds=window):
        raise QunguanError("recall_window_passed", "Too late to recall this message.",
                           window_seconds=window)
    return _withdraw(uow, message, acting, EventType.MESSAGE_RECALLED)


def do_delete_message(uow: UnitOfWork, *, acting: Account, message_id: int,
                      reason: str | None) -> Message:
    """GA-7: a founder or admin removes a message from the group."""
    message = access_message(uow, viewer=acting, message_id=message_id)
    group_queries.require_manager(uow, viewer=acting, group_id=message.group_id)
    _locked(uow, message)
    if message.recalled_at is not None:
        raise QunguanError("already_recalled", "The message was already removed.")
    author = group_queries.membership(uow, message.group_id, message.sender_id)
    mine = group_queries.membership(uow, message.group_id, acting.id)
    assert mine is not None
    if author is not None and author.account_id != acting.id and \
            Role(author.role).rank >= Role(mine.role).rank:
        raise QunguanError("forbidden", "You can remove only messages of members below you.")
    return _withdraw(uow, message, acting, EventType.MESSAGE_DELETED,
                     optional_text(reason))


# --- officer decisions (enforcement's review queue and emergency mode call these) ---------


def do_release_message(uow: UnitOfWork, *, acting: Account, message_id: int,
                       reason: str) -> Message:
    """A reviewer approved a held message: deliver it to the group as if just posted."""
    identity_queries.require_officer(acting)
    message = uow.session.get(Message, message_id)
    if message is None:
        raise QunguanError("not_found", "No such message.")
    _locked(uow, message)
    if message.status != MessageStatus.HELD or message.recalled_at is not None:
        raise QunguanError("conflict", "Only a held message can be released.",
                           status=message.status, removed=message.recalled_at is not None)
    message.status = MessageStatus.DELIVERED
    record_audit(uow, EventType.MESSAGE_RELEASED, acting=acting, subject_type="message",
                 subject_id=message.id, group_id=message.group_id,
                 extra={"fingerprint": message.fingerprint, "sender_id": message.sender_id,
                        "reason": optional_text(reason)})
    view = render(uow, [message])[0]
    # The members see it now, not when it was written: cascades count its arrival from here.
    uow.emit(EventType.MESSAGE_RELEASED, group_id=message.group_id, message=view,
             released_at=uow.now().isoformat())
    return message


def do_remove_message(uow: UnitOfWork, *, acting: Account, message_id: int,
                      reason: str, decides_hold: bool = False) -> Message:
    """An officer removes a message in any group (a review decision, an emergency purge).
    The text moves to the audit record, as with a recall; a held message is never delivered.
    ``decides_hold``: this removal is the review's decision on the held message (not, say, a
    purge while its review is pending), which a restore then reverses by delivering it."""
    identity_queries.require_officer(acting)
    message = uow.session.get(Message, message_id)
    if message is None:
        raise QunguanError("not_found", "No such message.")
    _locked(uow, message)
    if message.recalled_at is not None:
        raise QunguanError("already_recalled", "The message was already removed.")
    return _withdraw(uow, message, acting, EventType.MESSAGE_REMOVED, optional_text(reason),
                     decides_hold=decides_hold and message.status == MessageStatus.HELD)


def do_restore_message(uow: UnitOfWork, *, acting: Account, message_id: int,
                       reason: str) -> Message:
    """Undo a removal by an officer or a group admin (an appeal against it was overturned):
    the text comes back from the removal's audit record, and so does the status the message
    had. A delivered message is delivered again. A held one is delivered only when the
    removal overturned was the review's decision on the hold (the officer overturning it has
    reviewed the message); otherwise (an emergency purge while the review was pending) it
    stays held, seen by its sender only, and goes back to review (``MESSAGE_RESTORED`` with
    ``held``): no restore delivers a message nobody approved. A sender's own recall is never
    undone."""
    identity_queries.require_officer(acting)
    message = uow.session.get(Message, message_id)
    if message is None:
        raise QunguanError("not_found", "No such message.")
    _locked(uow, message)
    withdrawal = uow.session.scalar(
        select(AuditRecord).where(AuditRecord.event_type.in_(_WITHDRAWALS),
                                  AuditRecord.subject_type == "message",
                                  AuditRecord.subject_id == str(message.id))
        .order_by(AuditRecord.id.desc()).limit(1))
    if message.recalled_at is None or withdrawal is None \
            or withdrawal.event_type == int(EventType.MESSAGE_RECALLED) \
            or "text" not in withdrawal.extra:
        raise QunguanError("conflict", "Only a message removed by an officer or a group admin "
                           "can be restored.")
    # Records written before the status was kept: the row's own status is the one it had,
    # since a withdrawal never changes it.
    status = MessageStatus(withdrawal.extra.get("status") or message.status)
    if withdrawal.extra.get("decides_hold"):
        status = MessageStatus.DELIVERED
    message.text = withdrawal.extra["text"]
    message.recalled_at = None
    message.status = status
    held = status == MessageStatus.HELD
    record_audit(uow, EventType.MESSAGE_RESTORED, acting=acting, subject_type="message",
                 subject_id=message.id, group_id=message.group_id,
                 extra={"fingerprint": message.fingerprint, "sender_id": message.sender_id,
                        "removal_record_id": withdrawal.id, "status": status,
                        "reason": optional_text(reason)})
    view = render(uow, [message])[0]
    if held:  # the group never saw it: only the sender, and the review queue, hear of it
        uow.emit(EventType.MESSAGE_RESTORED, account_ids=(message.sender_id,), message=view,
                 held=True)
    else:
        uow.emit(EventType.MESSAGE_RESTORED, group_id=message.group_id, message=view,
                 held=False)
    return message


# What a restore may undo is looked up among every withdrawal, so that a later recall by
# the sender is seen (and refused) rather than an older removal restored.
_WITHDRAWALS = (int(EventType.MESSAGE_REMOVED), int(EventType.MESSAGE_DELETED),
                int(EventType.MESSAGE_RECALLED))


# --- labels attached after delivery (rumours: a debunk card on every copy) -----------------


def do_label_messages(uow: UnitOfWork, *, acting: Account, message_ids: list[int],
                      label: dict[str, object]) -> list[Message]:
    """Attach a label (shaped like a screening reason, e.g. carrying a debunk card) to
    messages already written: officers and automation (the system account) only. A label
    whose ``data.key`` equals that of one already on the message replaces it (a newer version
    of the same card); an identical label is not added twice; recalled messages are skipped.
    One audit record and one event per group, so clients update the messages in place; a held
    message is announced to its sender only. Returns the messages that changed."""
    if str(acting.kind) not in ("officer", "system"):
        raise QunguanError("forbidden", "Only officers may label messages.")
    data = label.get("data")
    key = data.get("key") if isinstance(data, dict) else None
    wanted = sorted(set(message_ids))
    changed: list[Message] = []
    for start in range(0, len(wanted), 500):
        # Locked in id order: two workers labelling overlapping copies must not lose a label
        # by writing back what each read (SQLite ignores FOR UPDATE; its writers are serial).
        for message in uow.session.scalars(
                select(Message).where(Message.id.in_(wanted[start:start + 500]))
                .order_by(Message.id).with_for_update()):
            if message.recalled_at is not None:
                continue
            current = list(message.labels or [])
            kept = [x for x in current if key is None or not isinstance(x, dict)
                    or not isinstance(x.get("data"), dict) or x["data"].get("key") != key]
            if label in kept:
                continue
            message.labels = [*kept, label]  # a new list: JSON columns track reassignment
            if message.verdict == VerdictKind.ALLOW.label:
                message.verdict = VerdictKind.LABEL.label
            changed.append(message)
    by_group: dict[int, list[Message]] = {}
    for message in changed:
        by_group.setdefault(message.group_id, []).append(message)
    for group_id, messages in sorted(by_group.items()):
        record_audit(uow, EventType.MESSAGES_LABELLED, acting=acting, subject_type="group",
                     subject_id=group_id, group_id=group_id,
                     extra={"message_ids": [m.id for m in messages], "rule": label.get("rule"),
                            "key": key})
        delivered = [m.id for m in messages if m.status == MessageStatus.DELIVERED]
        if delivered:
            uow.emit(EventType.MESSAGES_LABELLED, group_id=group_id, message_ids=delivered,
                     label=label)
        for m in messages:
            if m.status == MessageStatus.HELD:
                uow.emit(EventType.MESSAGES_LABELLED, account_ids=(m.sender_id,),
                         message_ids=[m.id], label=label)
    return changed


def do_mark_read(uow: UnitOfWork, *, acting: Account, group_id: int, message_id: int) -> None:
    """Move the member's read marker forward to ``message_id`` (never back). The caller has
    shown the member that message. A marker is private reading state, not conduct, so it
    writes neither an audit record nor an event (docs/web.md). Race-free on both backends
    (INSERT … ON CONFLICT DO UPDATE keeping the larger id)."""
    dialect = uow.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ReadMarker).values(account_id=acting.id, group_id=group_id,
                                     last_read_id=message_id)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ReadMarker.account_id, ReadMarker.group_id],
        set_={"last_read_id": case((ReadMarker.last_read_id < message_id, message_id),
                                   else_=ReadMarker.last_read_id)})
    uow.session.execute(stmt)
