"""Reads of messages: history with cursor pagination, and the public view of a message."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select

from qunguan.groups import Role
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.db import newest_first
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.uow import UnitOfWork
from qunguan.messaging.models import (
    ForwardCount,
    Mention,
    Message,
    MessageStatus,
    ReadMarker,
)

MAX_PAGE = 200


def encode_cursor(message_id: int) -> str:
    return base64.urlsafe_b64encode(f"m:{message_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        message_id = int(value)
        if prefix != "m" or not 1 <= message_id <= MAX_ID:
            raise ValueError(raw)
        return message_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise QunguanError("invalid_cursor", "Use the next_cursor of a previous page.") from None


def _iso(moment: datetime) -> str:
    """The same text the API's schemas produce (``…Z``), so that a realtime frame and the
    REST answer carry an identical message."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def access_message(uow: UnitOfWork, *, viewer: Account, message_id: int) -> Message:
    """A message the viewer may see: in a group they belong to, not held for someone else."""
    message = uow.session.get(Message, message_id)
    if message is None:
        raise QunguanError("not_found", "No such message.")
    if group_queries.membership(uow, message.group_id, viewer.id) is None:
        raise QunguanError("not_found", "No such message.")
    if message.status == MessageStatus.HELD and message.sender_id != viewer.id:
        raise QunguanError("not_found", "No such message.")
    return message


def render(uow: UnitOfWork, messages: Sequence[Message], *,
           sender: Account | None = None, sender_role: str | None = None,
           mentions: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The member-facing view: display names and role badges, never identity (ID-2).

    The write path passes what it already knows (the sender, their role, the mentions) so
    rendering a message it has just written costs no further queries."""
    if not messages:
        return []
    fresh = sender is not None and sender_role is not None and mentions is not None
    if sender is not None and sender_role is not None and mentions is not None:
        accounts = {sender.id: sender}
        mention_map = {m.id: list(mentions) for m in messages}
        roles = {(m.group_id, m.sender_id): sender_role for m in messages}
    else:
        accounts = identity_queries.accounts_by_ids(uow, [m.sender_id for m in messages])
        mention_map = {}
        for mention in uow.session.scalars(select(Mention).where(
                Mention.message_id.in_([m.id for m in messages]))):
            mention_map.setdefault(mention.message_id, []).append(mention.account_id)
        # One query for every sender's role, not one per sender.
        pairs = {(m.group_id, m.sender_id) for m in messages}
        found = group_queries.roles_of(uow, pairs)
        roles = {key: found.get(key, "former_member") for key in pairs}
    # A brand-new original has no forwards yet; everything else asks the exact counter.
    origins = {m.origin_id for m in messages if m.origin_id is not None}
    if not fresh:
        origins |= {m.id for m in messages}
    counts: dict[int, int] = {}
    if origins:
        # dict(result) would treat the Result as a mapping (it has keys()); iterate instead.
        counts = {origin: n for origin, n in uow.session.execute(  # noqa: C416
            select(ForwardCount.origin_id, ForwardCount.forwards)
            .where(ForwardCount.origin_id.in_(origins)))}
    out = []
    for m in messages:
        sender = accounts.get(m.sender_id)
        role = roles[(m.group_id, m.sender_id)]
        origin = m.origin_id or m.id
        out.append({
            "id": m.id, "group_id": m.group_id,
            "sender": {"id": m.sender_id,
                       "display_name": sender.display_name if sender else "?",
                       "avatar_text": sender.avatar_text if sender else None,
                       "role": role,
                       "badge": Role(role).badge if role in set(Role) else None},
            "text": m.text, "recalled": m.recalled_at is not None,
            "reply_to_id": m.reply_to_id, "mentions": sorted(mention_map.get(m.id, [])),
            "origin_id": origin, "parent_id": m.parent_id, "hop": m.hop,
            "fingerprint": m.fingerprint, "forwards": counts.get(origin, 0),
            "status": m.status, "labels": m.labels or [],
            "created_at": _iso(m.created_at),
        })
    return out


WITHDRAWALS = {EventType.MESSAGE_RECALLED: "recalled", EventType.MESSAGE_DELETED: "deleted",
               EventType.MESSAGE_REMOVED: "removed"}


def withdrawals(uow: UnitOfWork, message_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """How each withdrawn message went and who did it, as the audit record keeps it (GA-8):
    ``{"how": "recalled" | "deleted" (a group admin) | "removed" (an officer), "by":
    account id}``, the latest withdrawal of each. Never the withdrawn text."""
    if not message_ids:
        return {}
    rows = uow.session.execute(select(AuditRecord.subject_id, AuditRecord.event_type,
                                      AuditRecord.acting_id).where(
        AuditRecord.subject_type == "message",
        AuditRecord.subject_id.in_([str(i) for i in message_ids]),
        AuditRecord.event_type.in_([int(t) for t in WITHDRAWALS])).order_by(AuditRecord.id))
    return {int(str(subject)): {"how": WITHDRAWALS[EventType(kind)], "by": acting}
            for subject, kind, acting in rows}


def history(uow: UnitOfWork, *, viewer: Account, group_id: int, before: str | None,
            limit: int) -> tuple[list[Message], str | None]:
    """Newest first. ``before`` is an opaque cursor; held messages show only to their sender."""
    group_queries.access_membership(uow, viewer=viewer, group_id=group_id)
    stmt = select(Message).where(Message.group_id == group_id)
    stmt = stmt.where((Message.status == MessageStatus.DELIVERED)
                      | (Message.sender_id == viewer.id))
    rows, next_id = newest_first(uow.session, stmt, Message.id,
                                 before_id=decode_cursor(before) if before else None,
                                 limit=limit, max_page=MAX_PAGE)
    return rows, (encode_cursor(next_id) if next_id is not None else None)


def copies(uow: UnitOfWork, origin_id: int) -> list[Message]:
    """Every copy of an origin across groups (for later cascade and correction work)."""
    return list(uow.session.scalars(select(Message).where(
        (Message.origin_id == origin_id) | (Message.id == origin_id)).order_by(Message.id)))


# --- officer reads (enforcement's review queue and emergency mode) -------------------------
# The caller has checked the viewer is an officer; these answer for any group.


def message_by_id(uow: UnitOfWork, message_id: int) -> Message | None:
    return uow.session.get(Message, message_id)


def context_of(uow: UnitOfWork, message: Message, around: int) -> list[Message]:
    """The message with up to ``around`` delivered messages before and after it in its group,
    oldest first: what a reviewer needs to judge it in context."""
    base = select(Message).where(Message.group_id == message.group_id,
                                 Message.status == MessageStatus.DELIVERED)
    before = list(uow.session.scalars(base.where(Message.id < message.id)
                                      .order_by(Message.id.desc()).limit(around)))
    after = list(uow.session.scalars(base.where(Message.id > message.id)
                                     .order_by(Message.id).limit(around)))
    return [*reversed(before), message, *after]


def live_copies(uow: UnitOfWork, digest: str) -> list[Message]:
    """Every copy of a fingerprint, in any group, not yet recalled or removed."""
    return list(uow.session.scalars(select(Message).where(
        Message.fingerprint == digest, Message.recalled_at.is_(None)).order_by(Message.id)))


def unread_counts(uow: UnitOfWork, *, viewer: Account,
                  group_ids: Sequence[int]) -> dict[int, int]:
    """Delivered messages of others newer than the viewer's read marker, per group (groups
    with none are left out). One query over the (group_id, id) index."""
    if not group_ids:
        return {}
    marker = ReadMarker.last_read_id
    rows = uow.session.execute(
        select(Message.group_id, func.count(Message.id))
        .outerjoin(ReadMarker, and_(ReadMarker.group_id == Message.group_id,
                                    ReadMarker.account_id == viewer.id))
        .where(Message.group_id.in_(list(group_ids)), Message.sender_id != viewer.id,
               Message.status == MessageStatus.DELIVERED,
               Message.id > func.coalesce(marker, 0))
        .group_by(Message.group_id))
    return {group_id: int(n) for group_id, n in rows}
