"""Reads of governance: legal holds, what they cover, and the retention report.

A **case** is a review item of enforcement (``review_items``): one subject (a message, an
account or a group) brought to the queue by a hold, a screening finding, reports or a sample,
with its decision, the sanctions and statements of reasons it produced and the appeals
against those statements. Cases are named by the review item's id.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, select
from sqlalchemy.orm import InstrumentedAttribute

from qunguan.auditlog.models import LogLeaf
from qunguan.config import REGULATED_ARCHIVE_DAYS, Settings
from qunguan.enforcement.models import (
    Appeal,
    AppealStatus,
    ItemStatus,
    ReviewItem,
    Statement,
    SubjectType,
)
from qunguan.governance.models import HoldScope, LegalHold, PurgedContent
from qunguan.groups.models import Group
from qunguan.identity import Account, unmasking
from qunguan.identity import queries as identity_queries
from qunguan.identity.models import AuthToken, LoginAttempt
from qunguan.importers.models import ArchivedEvent
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord, OutboxEvent
from qunguan.kernel.uow import UnitOfWork
from qunguan.messaging import queries as messaging_queries
from qunguan.messaging.models import Message
from qunguan.screening.models import ScreeningHit

list_unmaskings = unmasking.list_unmaskings  # every unmasking of the unit, for officers
access_unmasking = unmasking.access_request  # one of them, for officers (not_found otherwise)

CASE_CONTEXT = 5  # messages before and after a case's subject message that a case covers


class RecordKind(enum.StrEnum):
    """What retention purges, each with its own setting (docs/retention.md)."""

    MESSAGES = "messages"  # message texts: the text is removed, the row stays
    SCREENING_EVIDENCE = "screening_evidence"  # a rule hit's detector signals: emptied
    OUTBOX_EVENTS = "outbox_events"  # processed outbox rows (payloads may quote texts)
    LOGIN_ATTEMPTS = "login_attempts"  # failed logins (network logs)
    AUTH_TOKENS = "auth_tokens"  # bearer tokens expired longer than the period
    AUDIT_CONTENT = "audit_content"  # an audit record's content (the record and leaf stay)
    ARCHIVED_EVENTS = "archived_events"  # an imported archive event's content (row, link stay)


SETTING_OF = {
    RecordKind.MESSAGES: "retention_messages_days",
    RecordKind.SCREENING_EVIDENCE: "retention_screening_days",
    RecordKind.OUTBOX_EVENTS: "retention_outbox_days",
    RecordKind.LOGIN_ATTEMPTS: "retention_login_days",
    RecordKind.AUTH_TOKENS: "retention_login_days",
    RecordKind.AUDIT_CONTENT: "retention_audit_content_days",
    RecordKind.ARCHIVED_EVENTS: "retention_archived_events_days",
}


def retention_days(settings: Settings, kind: RecordKind) -> int:
    days = int(getattr(settings, SETTING_OF[kind]))
    if settings.retention_regulated_archive:
        return max(days, REGULATED_ARCHIVE_DAYS)
    return days


def cutoff(uow: UnitOfWork, kind: RecordKind) -> datetime:
    return uow.now() - timedelta(days=retention_days(uow.settings, kind))


# --- what is held ---------------------------------------------------------------------------


@dataclass
class Held:
    """Everything purging must leave alone: legal holds plus open cases and appeals."""

    group_ids: set[int] = field(default_factory=set)
    account_ids: set[int] = field(default_factory=set)
    message_ids: set[int] = field(default_factory=set)
    case_ids: set[int] = field(default_factory=set)
    phone_indexes: set[str] = field(default_factory=set)


def active_holds(uow: UnitOfWork) -> list[LegalHold]:
    return list(uow.session.scalars(select(LegalHold).where(LegalHold.lifted_at.is_(None))
                                    .order_by(LegalHold.id)))


def _cover_case(uow: UnitOfWork, item: ReviewItem, held: Held) -> None:
    held.case_ids.add(item.id)
    if item.subject_type == SubjectType.MESSAGE:
        message = messaging_queries.message_by_id(uow, item.subject_id)
        held.message_ids.add(item.subject_id)
        if message is not None:
            held.message_ids.update(m.id for m in messaging_queries.context_of(
                uow, message, CASE_CONTEXT))
    elif item.subject_type == SubjectType.ACCOUNT:
        held.account_ids.add(item.subject_id)
    elif item.subject_type == SubjectType.GROUP:
        held.group_ids.add(item.subject_id)
    for statement in uow.session.scalars(select(Statement).where(
            Statement.review_item_id == item.id)):
        if statement.message_id is not None:
            held.message_ids.add(statement.message_id)


def _cover(uow: UnitOfWork, hold: LegalHold, held: Held) -> None:
    if hold.scope == HoldScope.GROUP:
        held.group_ids.add(hold.scope_id)
    elif hold.scope == HoldScope.ACCOUNT:
        held.account_ids.add(hold.scope_id)
    else:
        item = uow.session.get(ReviewItem, hold.scope_id)
        if item is not None:
            _cover_case(uow, item, held)


def held_scope(uow: UnitOfWork) -> Held:
    held = Held()
    for hold in active_holds(uow):
        _cover(uow, hold, held)
    # An open case or an open appeal holds its own subject: evidence under review stays.
    for item in uow.session.scalars(select(ReviewItem).where(
            ReviewItem.status == ItemStatus.OPEN)):
        _cover_case(uow, item, held)
    for message_id in uow.session.scalars(
            select(Statement.message_id).join(Appeal, Appeal.statement_id == Statement.id)
            .where(Appeal.status == AppealStatus.OPEN, Statement.message_id.is_not(None))):
        if message_id is not None:
            held.message_ids.add(message_id)
    if held.account_ids:
        held.phone_indexes = {p for p in uow.session.scalars(
            select(Account.phone_index).where(Account.id.in_(held.account_ids))) if p}
    return held


def _not_in(column: InstrumentedAttribute[Any], values: set[Any]) -> list[ColumnElement[bool]]:
    return [column.not_in(sorted(values))] if values else []


def _in(column: InstrumentedAttribute[Any], values: set[Any]) -> ColumnElement[bool] | None:
    return column.in_(sorted(values)) if values else None


@dataclass(frozen=True)
class KindQuery:
    """The rows of a kind past retention: ``due`` unheld (to purge), ``held`` kept by a hold."""

    model: Any
    time_column: InstrumentedAttribute[Any]
    pending: list[ColumnElement[bool]]  # not yet purged
    unheld: list[ColumnElement[bool]]


def _not_purged(kind: RecordKind, id_column: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    return not_(select(PurgedContent.id).where(PurgedContent.kind == str(kind),
                                               PurgedContent.row_id == id_column).exists())


def kind_query(kind: RecordKind, held: Held) -> KindQuery:
    if kind == RecordKind.MESSAGES:
        return KindQuery(Message, Message.created_at, [Message.text.is_not(None)], [
            *_not_in(Message.group_id, held.group_ids),
            *_not_in(Message.sender_id, held.account_ids),
            *_not_in(Message.id, held.message_ids)])
    if kind == RecordKind.SCREENING_EVIDENCE:
        msg = ScreeningHit.message_id
        return KindQuery(ScreeningHit, ScreeningHit.created_at,
                         [_not_purged(kind, ScreeningHit.id)], [
            *_not_in(ScreeningHit.group_id, held.group_ids),
            *_not_in(ScreeningHit.account_id, held.account_ids),
            *([msg.is_(None) | msg.not_in(sorted(held.message_ids))]
              if held.message_ids else [])])
    if kind == RecordKind.OUTBOX_EVENTS:
        # Account and message holds are applied to the payload in Python (it is JSON).
        grp = OutboxEvent.group_id
        return KindQuery(OutboxEvent, OutboxEvent.created_at,
                         [OutboxEvent.processed_at.is_not(None)],
                         [grp.is_(None) | grp.not_in(sorted(held.group_ids))]
                         if held.group_ids else [])
    if kind == RecordKind.LOGIN_ATTEMPTS:
        return KindQuery(LoginAttempt, LoginAttempt.at, [],
                         _not_in(LoginAttempt.phone_index, held.phone_indexes))
    if kind == RecordKind.AUTH_TOKENS:
        return KindQuery(AuthToken, AuthToken.expires_at, [],
                         _not_in(AuthToken.account_id, held.account_ids))
    if kind == RecordKind.ARCHIVED_EVENTS:
        # No hold reaches them: their chats and senders are the export's identifiers, which
        # map to no qunguan group or account (docs/retention.md "Archived events"). Their
        # period runs from the import, when they came into qunguan's keeping.
        return KindQuery(ArchivedEvent, ArchivedEvent.imported_at,
                         [ArchivedEvent.purged_at.is_(None)], [])
    return KindQuery(AuditRecord, AuditRecord.occurred_at, [
        # Only records already in the Merkle log: the leaf of a record appended after its
        # content went would commit to the marker, not to the evidence.
        select(LogLeaf.record_id).where(LogLeaf.record_id == AuditRecord.id).exists(),
        # The record of what retention purged is itself kept whole.
        AuditRecord.event_type != int(EventType.RETENTION_PURGED),
        _not_purged(kind, AuditRecord.id)], [
        *([AuditRecord.group_id.is_(None) | AuditRecord.group_id.not_in(sorted(held.group_ids))]
          if held.group_ids else []),
        *_not_in(AuditRecord.acting_id, held.account_ids),
        *[not_((AuditRecord.subject_type == kind_) &
               AuditRecord.subject_id.in_([str(i) for i in sorted(ids)]))
          for kind_, ids in (("message", held.message_ids), ("account", held.account_ids),
                             ("group", held.group_ids), ("review_item", held.case_ids))
          if ids]])


def payload_is_held(payload: dict[str, Any], held: Held) -> bool:
    accounts = {payload.get(k) for k in ("account_id", "sender_id", "subject_id")}
    accounts.update(payload.get("account_ids") or ())
    messages = {payload.get(k) for k in ("message_id", "origin_id")}
    return bool(accounts & held.account_ids) or bool(messages & held.message_ids)


# --- holds ----------------------------------------------------------------------------------


def require_hold_target(uow: UnitOfWork, scope: HoldScope, scope_id: int) -> None:
    """The case, group or account a hold names must exist (not_found otherwise)."""
    model = {HoldScope.CASE: ReviewItem, HoldScope.GROUP: Group,
             HoldScope.ACCOUNT: Account}[scope]
    if uow.session.get(model, scope_id) is None:
        raise QunguanError("not_found", f"No such {scope.value}.", scope=scope.value)


def list_holds(uow: UnitOfWork, *, viewer: Account, active_only: bool = True) -> list[LegalHold]:
    identity_queries.require_officer(viewer)
    if active_only:
        return active_holds(uow)
    return list(uow.session.scalars(select(LegalHold).order_by(LegalHold.id.desc())))


def access_hold(uow: UnitOfWork, *, viewer: Account, hold_id: int) -> LegalHold:
    identity_queries.require_officer(viewer)
    hold = uow.session.get(LegalHold, hold_id)
    if hold is None:
        raise QunguanError("not_found", "No such legal hold.")
    return hold


def _count(uow: UnitOfWork, q: KindQuery, *extra: ColumnElement[bool]) -> int:
    return int(uow.session.scalar(select(func.count()).select_from(q.model)
                                  .where(*q.pending, *extra)) or 0)


def hold_coverage(uow: UnitOfWork, hold: LegalHold) -> dict[str, Any]:
    """What one hold covers, in words and counts (messages it keeps, by any age)."""
    held = Held()
    _cover(uow, hold, held)
    conditions = [c for c in (_in(Message.group_id, held.group_ids),
                              _in(Message.sender_id, held.account_ids),
                              _in(Message.id, held.message_ids)) if c is not None]
    messages = 0
    if conditions:
        clause = conditions[0]
        for c in conditions[1:]:
            clause = clause | c
        messages = int(uow.session.scalar(select(func.count()).select_from(Message).where(
            and_(Message.text.is_not(None), clause))) or 0)
    return {"groups": sorted(held.group_ids), "accounts": sorted(held.account_ids),
            "messages": sorted(held.message_ids), "message_texts_kept": messages}


# --- the retention report -------------------------------------------------------------------


def retention_report(uow: UnitOfWork, *, viewer: Account | None = None) -> dict[str, Any]:
    """What is held and why, what is due now, and when the next content of each kind falls
    due. ``viewer`` None is the operator's CLI; through the API it must be an officer."""
    if viewer is not None:
        identity_queries.require_officer(viewer)
    held = held_scope(uow)
    now = uow.now()
    kinds = []
    for kind in RecordKind:
        q = kind_query(kind, held)
        days = retention_days(uow.settings, kind)
        limit = now - timedelta(days=days)
        past = q.time_column < limit
        due = _count(uow, q, past, *q.unheld)
        held_past = _count(uow, q, past) - due
        upcoming = uow.session.scalar(select(func.min(q.time_column)).where(
            *q.pending, *q.unheld, q.time_column >= limit))
        purged = int(uow.session.scalar(select(func.count()).select_from(PurgedContent)
                                        .where(PurgedContent.kind == str(kind))) or 0)
        kinds.append({
            "kind": kind.value, "retention_days": days, "setting": SETTING_OF[kind],
            "cutoff": limit, "due_now": due, "held_past_retention": held_past,
            "next_due_at": upcoming + timedelta(days=days) if upcoming is not None else None,
            "purged_so_far": purged})
    holds = [{"id": h.id, "scope": h.scope, "scope_id": h.scope_id, "reason": h.reason,
              "placed_by": h.placed_by, "placed_at": h.placed_at,
              "covers": hold_coverage(uow, h)} for h in active_holds(uow)]
    open_cases = list(uow.session.scalars(select(ReviewItem.id).where(
        ReviewItem.status == ItemStatus.OPEN).order_by(ReviewItem.id)))
    return {"generated_at": now, "regulated_archive": uow.settings.retention_regulated_archive,
            "kinds": kinds, "holds": holds, "open_cases": open_cases}
