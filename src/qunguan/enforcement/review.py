"""The review queue (CR-4): held messages, post-send findings, reports and samples, decided by
officers who claim an item exclusively and give a reason for every decision.

Items enter from the outbox (``MESSAGE_HELD``, ``SCREENING_FLAGGED``, sampled
``MESSAGE_POSTED`` and ``MESSAGE_FORWARDED``, a held message restored on appeal) acting as
the system account, and from reports (``reports.py``) acting as the reporter. One subject has
at most one open item, also under concurrency (a partial unique index): a second finding or
report joins it and can only raise its severity. Automation ends here: it may hold and queue,
never decide.

Group admins' deletions (``MESSAGE_DELETED``) do not pass through the queue, but their
senders get a statement of reasons here, as for every removed message (AT-1).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from qunguan import screening
from qunguan.enforcement import credit, sanctions, statements
from qunguan.enforcement.models import (
    Decision,
    ItemSource,
    ItemStatus,
    Report,
    ReportStatus,
    ReviewItem,
    SanctionKind,
    SubjectType,
)
from qunguan.groups import Group
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError, define_error
from qunguan.kernel.events import Event, EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.outbox import register_handler
from qunguan.kernel.restrictions import Function
from qunguan.kernel.text import require_storable
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.messaging import Message, MessageStatus
from qunguan.messaging import actions as messaging_actions
from qunguan.messaging import queries as messaging_queries
from qunguan.rumors import actions as rumor_actions
from qunguan.rumors import queries as rumor_queries

define_error("review_claimed_by_another", 409, "Another officer holds a live claim on this "
             "review item until details.claim_expires_at; wait for it to expire or be released.")
define_error("review_claim_required", 409, "Claim the review item first: deciding or releasing "
             "needs your own live claim (it may have expired).")
define_error("review_item_decided", 409, "The review item was already decided.")
define_error("decision_reason_required", 422, "A review decision needs a reason that is not "
             "blank (it goes into the statement of reasons and the audit record).")
define_error("decision_not_applicable", 422, "The decision does not fit the item: only a "
             "message can be removed, decision=sanction needs a sanction object and only "
             "decision=sanction takes one; details.problem says which.")

# Severity scale of the queue: higher first. Held messages wait for delivery, so they start
# high; samples are quality control and wait behind everything else.
SEVERITY_HELD = 3
SEVERITY_SCREENING = 2
SEVERITY_SAMPLE = 0
_NAMED_SEVERITY = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
CONTEXT_MESSAGES = 3  # before and after the subject, in the reviewer's view
MAX_PAGE = 200
MAX_REASON_CHARS = 2000


def _severity_of(reasons: list[dict[str, Any]], default: int) -> int:
    """The highest severity a screening reason names (as a number or a word), else
    ``default``; a rule that names none must not sink below the source's default."""
    found = [default]
    for reason in reasons:
        for value in (reason.get("severity"), (reason.get("data") or {}).get("severity")):
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                found.append(value)
            elif isinstance(value, str) and value.lower() in _NAMED_SEVERITY:
                found.append(_NAMED_SEVERITY[value.lower()])
    return max(found)


def is_sampled(message_id: int, rate: float) -> bool:
    """Whether quality-control sampling picks this message: a hash of the id, so the choice
    is reproducible and cannot be steered by timing."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"review-sample:{message_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


# --- opening items --------------------------------------------------------------------------


def _locked_open_item(uow: UnitOfWork, subject_type: SubjectType,
                      subject_id: int) -> ReviewItem | None:
    """The subject's open item under a row lock, re-read: an officer deciding it at the same
    moment makes us wait, and once they commit it no longer matches (PostgreSQL re-checks
    the condition on the locked row), so nothing joins an item whose outcome is written."""
    item = uow.session.scalar(
        select(ReviewItem).where(ReviewItem.subject_type == subject_type,
                                 ReviewItem.subject_id == subject_id,
                                 ReviewItem.status == ItemStatus.OPEN)
        .order_by(ReviewItem.id).limit(1).with_for_update()
        .execution_options(populate_existing=True))
    return item if item is not None and item.status == ItemStatus.OPEN else None


def open_item(uow: UnitOfWork, *, acting: Account, source: ItemSource,
              subject_type: SubjectType, subject_id: int, group_id: int | None, severity: int,
              rules: list[dict[str, Any]], automated: bool) -> tuple[ReviewItem, bool]:
    """The open item of the subject, joined, or a new one; ``True`` when it is new."""
    for _ in range(3):
        joined = _locked_open_item(uow, subject_type, subject_id)
        if joined is not None:
            joined.severity = max(joined.severity, severity)
            joined.rules = [*joined.rules, *rules]  # a new list: JSON tracks reassignment only
            joined.automated = joined.automated or automated
            return joined, False
        item = ReviewItem(source=source, subject_type=subject_type, subject_id=subject_id,
                          group_id=group_id, severity=severity, rules=rules,
                          automated=automated, status=ItemStatus.OPEN, created_at=uow.now())
        try:
            with uow.savepoint():
                uow.session.add(item)
                uow.session.flush()
            break
        except IntegrityError:  # another transaction opened it first: join theirs
            continue
    else:
        raise RuntimeError("could not open or join the review item")
    record_audit(uow, EventType.REVIEW_ITEM_OPENED, acting=acting, subject_type="review_item",
                 subject_id=item.id, group_id=group_id,
                 extra={"source": source, "item_subject_type": subject_type,
                        "item_subject_id": subject_id, "severity": severity,
                        "automated": automated, "rules": [r.get("rule") for r in rules]})
    # No group_id on the event: members of the group must not learn of the review.
    uow.emit(EventType.REVIEW_ITEM_OPENED, item_id=item.id, source=source,
             subject_type=subject_type, subject_id=subject_id, target_group_id=group_id,
             severity=severity)
    return item, True


def _screening_rules(reasons: list[dict[str, Any]], source: ItemSource) -> list[dict[str, Any]]:
    return [{"rule": r.get("rule"), "detector": r.get("detector"), "source": source,
             "automated": True} for r in reasons if isinstance(r, dict)]


def _still_held(uow: UnitOfWork, event: Event) -> tuple[Message, list[dict[str, Any]]] | None:
    view = event.payload.get("message") or {}
    message = messaging_queries.message_by_id(uow, int(view["id"]))
    if message is None or message.status != MessageStatus.HELD or \
            message.recalled_at is not None:
        return None  # delivered, recalled or removed meanwhile: nothing to queue or explain
    return message, [r for r in (view.get("labels") or []) if isinstance(r, dict)]


def on_message_held(uow: UnitOfWork, event: Event) -> None:
    """A held message waits for a reviewer; its sender gets a statement at once (AT-1)."""
    held = _still_held(uow, event)
    if held is not None:
        _queue_held(uow, *held, always_explain=True)


def on_message_restored(uow: UnitOfWork, event: Event) -> None:
    """A held message whose removal was overturned is held again, not delivered: back to
    the queue (the open item it still has, or a new one, explained to its sender anew)."""
    held = _still_held(uow, event) if event.payload.get("held") else None
    if held is not None:
        _queue_held(uow, *held, always_explain=False)


def _queue_held(uow: UnitOfWork, message: Message, reasons: list[dict[str, Any]], *,
                always_explain: bool) -> None:
    system = identity_queries.system_account(uow)
    item, new = open_item(uow, acting=system, source=ItemSource.HELD,
                        subject_type=SubjectType.MESSAGE, subject_id=message.id,
                        group_id=message.group_id,
                        severity=_severity_of(reasons, SEVERITY_HELD),
                        rules=_screening_rules(reasons, ItemSource.HELD), automated=True)
    if not (new or always_explain):
        return  # its pending item's statement still explains the hold
    rule = next((r.get("rule") for r in reasons if r.get("rule")), None)
    group = uow.session.get(Group, message.group_id)
    statements.issue_statement(
        uow, acting=system, account_id=message.sender_id, measure="message_held",
        facts=f"您在群「{group.name if group else message.group_id}」发送的消息（编号 "
        f"{message.id}）被自动审核规则 {rule or '-'} 拦下，须经人工审核后才会送达。 "
        f"Your message {message.id} was held by the automatic rule {rule or '-'} and will "
        "be delivered only if a reviewer approves it.",
        scope="this message only, before delivery", rule=rule, automated=True,
        starts_at=message.created_at, ends_at=None, message_id=message.id,
        review_item_id=item.id, group_id=message.group_id)


def on_screening_flagged(uow: UnitOfWork, event: Event) -> None:
    """A post-send rule fired on a delivered message: a reviewer looks at it."""
    payload = event.payload
    reasons = [r for r in (payload.get("reasons") or []) if isinstance(r, dict)]
    message = messaging_queries.message_by_id(uow, int(payload["message_id"]))
    if message is None or message.recalled_at is not None:
        return
    severity = payload.get("severity")
    default = severity if isinstance(severity, int) and not isinstance(severity, bool) \
        else _NAMED_SEVERITY.get(str(severity).lower(), SEVERITY_SCREENING)
    open_item(uow, acting=identity_queries.system_account(uow), source=ItemSource.SCREENING,
              subject_type=SubjectType.MESSAGE, subject_id=message.id,
              group_id=message.group_id, severity=_severity_of(reasons, default),
              rules=_screening_rules(reasons, ItemSource.SCREENING), automated=True)


def on_message_posted(uow: UnitOfWork, event: Event) -> None:
    """Quality control: a share of allowed posts and forwarded copies goes to review
    (review_sample_rate)."""
    rate = uow.settings.review_sample_rate
    view = event.payload.get("message") or {}
    if not rate or "id" not in view or not is_sampled(int(view["id"]), rate):
        return
    open_item(uow, acting=identity_queries.system_account(uow), source=ItemSource.SAMPLE,
              subject_type=SubjectType.MESSAGE, subject_id=int(view["id"]),
              group_id=view.get("group_id"), severity=SEVERITY_SAMPLE,
              rules=[{"rule": "quality_sample", "source": ItemSource.SAMPLE,
                      "automated": True}], automated=False)


def on_message_deleted(uow: UnitOfWork, event: Event) -> None:
    """A founder or admin removed a member's message (GA-7): the sender gets a statement of
    reasons like any removal (AT-1), appealable to an officer (overturning restores it). The
    decider is the admin; their reason is quoted unless it carries personal data."""
    message_id = int(event.payload["message_id"])
    record = uow.session.scalar(
        select(AuditRecord).where(AuditRecord.event_type == int(EventType.MESSAGE_DELETED),
                                  AuditRecord.subject_type == "message",
                                  AuditRecord.subject_id == str(message_id))
        .order_by(AuditRecord.id.desc()).limit(1))
    message = messaging_queries.message_by_id(uow, message_id)
    if record is None or message is None or record.acting_id is None:
        return
    admin = uow.session.get(Account, record.acting_id)
    if admin is None or admin.id == message.sender_id:
        return  # one's own message: nothing to explain or appeal
    reason = str(record.extra.get("reason") or "").strip()
    if reason and screening.contains_personal_data(reason):
        reason = "（理由含个人信息，未予转载 withheld: it contained personal data）"
    group = uow.session.get(Group, message.group_id)
    where = group.name if group is not None else str(message.group_id)
    statements.issue_statement(
        uow, acting=admin, account_id=message.sender_id, measure="message_removed",
        facts=f"您在群「{where}」的消息（编号 {message.id}）被群管理员「{admin.display_name}」"
        f"删除。理由：{reason or '未说明'} Your message {message.id} was removed by the "
        f"group's admin {admin.display_name}. Reason: {reason or 'none given'}",
        scope="this message, in this group", rule=None, automated=False,
        starts_at=record.occurred_at, ends_at=None, message_id=message.id,
        group_id=message.group_id, decided_by=admin.id)


register_handler(EventType.MESSAGE_HELD, on_message_held)
register_handler(EventType.MESSAGE_RESTORED, on_message_restored)
register_handler(EventType.SCREENING_FLAGGED, on_screening_flagged)
register_handler(EventType.MESSAGE_POSTED, on_message_posted)
register_handler(EventType.MESSAGE_FORWARDED, on_message_posted)
register_handler(EventType.MESSAGE_DELETED, on_message_deleted)


# --- reads ----------------------------------------------------------------------------------


def list_items(uow: UnitOfWork, *, viewer: Account, status: ItemStatus = ItemStatus.OPEN,
               source: ItemSource | None = None, group_id: int | None = None,
               limit: int = 50) -> list[ReviewItem]:
    """The queue: most severe first, then oldest first."""
    identity_queries.require_officer(viewer)
    stmt = select(ReviewItem).where(ReviewItem.status == status)
    if source is not None:
        stmt = stmt.where(ReviewItem.source == source)
    if group_id is not None:
        stmt = stmt.where(ReviewItem.group_id == group_id)
    stmt = stmt.order_by(ReviewItem.severity.desc(), ReviewItem.created_at, ReviewItem.id)
    return list(uow.session.scalars(stmt.limit(max(1, min(limit, MAX_PAGE)))))


FINDINGS_SCAN = 2000  # items read at most for one page of findings


def detector_findings(uow: UnitOfWork, *, viewer: Account, detector: str,
                      subject_type: SubjectType | None = None, group_id: int | None = None,
                      before_id: int | None = None,
                      limit: int = 50) -> tuple[list[dict[str, Any]], int | None]:
    """What an automated detector reported to the queue (e.g. ``votebuying``: one rule per
    red-envelope alert, with its explanation and evidence as recorded on the item), newest
    item first, open and decided alike; with the ``before_id`` of the next page. Rules are
    JSON, so the items are read in chunks and their rules filtered here."""
    identity_queries.require_officer(viewer)
    limit = max(1, min(limit, MAX_PAGE))
    stmt = select(ReviewItem).where(ReviewItem.source == ItemSource.SCREENING,
                                    ReviewItem.automated.is_(True))
    if subject_type is not None:
        stmt = stmt.where(ReviewItem.subject_type == subject_type)
    if group_id is not None:
        stmt = stmt.where(ReviewItem.group_id == group_id)
    found: list[dict[str, Any]] = []
    cursor, scanned = before_id, 0
    while scanned < FINDINGS_SCAN:
        page = stmt if cursor is None else stmt.where(ReviewItem.id < cursor)
        chunk = list(uow.session.scalars(page.order_by(ReviewItem.id.desc()).limit(MAX_PAGE)))
        for item in chunk:
            scanned += 1
            cursor = item.id
            found.extend({"item_id": item.id, "item_status": item.status,
                          "decision": item.decision, "group_id": item.group_id,
                          "subject_type": item.subject_type, "subject_id": item.subject_id,
                          "item_created_at": item.created_at, **rule}
                         for rule in item.rules
                         if isinstance(rule, dict) and rule.get("detector") == detector)
            if len(found) >= limit:
                return found, item.id
        if len(chunk) < MAX_PAGE:
            return found, None
    return found, cursor


def access_item(uow: UnitOfWork, *, viewer: Account, item_id: int) -> ReviewItem:
    identity_queries.require_officer(viewer)
    item = uow.session.get(ReviewItem, item_id)
    if item is None:
        raise QunguanError("not_found", "No such review item.")
    return item


def item_reports(uow: UnitOfWork, item_id: int) -> list[Report]:
    return list(uow.session.scalars(select(Report).where(Report.review_item_id == item_id)
                                    .order_by(Report.id)))


def item_detail(uow: UnitOfWork, *, viewer: Account, item_id: int) -> dict[str, Any]:
    """The item, its reports, and its subject in context, with display names only: legal
    names stay sealed in the vault."""
    item = access_item(uow, viewer=viewer, item_id=item_id)
    reports = item_reports(uow, item.id)
    names = identity_queries.accounts_by_ids(uow, [r.reporter_id for r in reports])
    out: dict[str, Any] = {
        "item": item, "message": None, "context": [], "account": None, "group": None,
        "reports": [{"id": r.id, "reporter_id": r.reporter_id,
                     "reporter_display_name": names[r.reporter_id].display_name
                     if r.reporter_id in names else "?",
                     "reason": r.reason, "note": r.note, "good_faith": r.good_faith,
                     "status": r.status, "created_at": r.created_at} for r in reports]}
    if item.subject_type == SubjectType.MESSAGE:
        message = messaging_queries.message_by_id(uow, item.subject_id)
        if message is not None:
            around = messaging_queries.context_of(uow, message, CONTEXT_MESSAGES)
            views = messaging_queries.render(uow, around)
            out["context"] = views
            out["message"] = next(v for v in views if v["id"] == message.id)
    elif item.subject_type == SubjectType.ACCOUNT:
        account = uow.session.get(Account, item.subject_id)
        if account is not None:
            out["account"] = {"id": account.id, "display_name": account.display_name}
    group_id = item.subject_id if item.subject_type == SubjectType.GROUP else item.group_id
    group = uow.session.get(Group, group_id) if group_id is not None else None
    if group is not None:
        out["group"] = {"id": group.id, "name": group.name, "category": group.category,
                        "member_count": group.member_count}
    return out


# --- claims ---------------------------------------------------------------------------------


def _locked_item(uow: UnitOfWork, viewer: Account, item_id: int) -> ReviewItem:
    """The item re-read under a row lock: two officers claiming at once on PostgreSQL must
    not both see it free (SQLite already runs write transactions one at a time)."""
    item = access_item(uow, viewer=viewer, item_id=item_id)
    uow.session.refresh(item, with_for_update=True)
    if item.status != ItemStatus.OPEN:
        raise QunguanError("review_item_decided", "The item was already decided.",
                           decision=item.decision)
    return item


def _claim_is_live(uow: UnitOfWork, item: ReviewItem) -> bool:
    return (item.claimed_by is not None and item.claim_expires_at is not None
            and item.claim_expires_at > uow.now())


def _require_own_claim(uow: UnitOfWork, item: ReviewItem, acting: Account) -> None:
    if _claim_is_live(uow, item) and item.claimed_by != acting.id:
        assert item.claim_expires_at is not None
        raise QunguanError("review_claimed_by_another", "Another officer is reviewing this item.",
                           claim_expires_at=item.claim_expires_at.isoformat())
    if not _claim_is_live(uow, item):
        raise QunguanError("review_claim_required", "Claim the item first.")


def do_claim(uow: UnitOfWork, *, acting: Account, item_id: int) -> ReviewItem:
    """Claim the item exclusively for review_claim_seconds; one's own claim is extended."""
    item = _locked_item(uow, acting, item_id)
    if _claim_is_live(uow, item) and item.claimed_by != acting.id:
        _require_own_claim(uow, item, acting)  # raises review_claimed_by_another
    taken_over = item.claimed_by if item.claimed_by not in (None, acting.id) else None
    item.claimed_by = acting.id
    item.claim_expires_at = uow.now() + timedelta(seconds=uow.settings.review_claim_seconds)
    record_audit(uow, EventType.REVIEW_ITEM_CLAIMED, acting=acting, subject_type="review_item",
                 subject_id=item.id, group_id=item.group_id,
                 extra={"claim_expires_at": item.claim_expires_at.isoformat(),
                        "expired_claim_of": taken_over})
    uow.emit(EventType.REVIEW_ITEM_CLAIMED, item_id=item.id, claimed_by=acting.id,
             claim_expires_at=item.claim_expires_at.isoformat())
    return item


def do_release(uow: UnitOfWork, *, acting: Account, item_id: int) -> ReviewItem:
    """Give one's claim back so another officer may take the item at once."""
    item = _locked_item(uow, acting, item_id)
    _require_own_claim(uow, item, acting)
    item.claimed_by = None
    item.claim_expires_at = None
    # The same type as the claim, marked released: a claim's whole life reads in one type.
    record_audit(uow, EventType.REVIEW_ITEM_CLAIMED, acting=acting, subject_type="review_item",
                 subject_id=item.id, group_id=item.group_id, extra={"released": True})
    uow.emit(EventType.REVIEW_ITEM_CLAIMED, item_id=item.id, claimed_by=None, released=True)
    return item


# --- decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SanctionOrder:
    """What decision=sanction imposes; ``subject`` picks the account or the group of the item
    (default: the sender of a message, the reported account, the reported group)."""

    kind: SanctionKind
    duration_seconds: int | None = None
    functions: tuple[Function, ...] = ()
    group_id: int | None = None
    subject: SubjectType | None = None
    skip_warning_reason: str | None = None  # EC-8: suspending a never-warned member


@dataclass(frozen=True)
class LabelOrder:
    """What decision=label attaches: ``debunk_id`` (default: the bank's best match for the
    message now), and whether the message's text becomes a phrasing of it."""

    debunk_id: int | None = None
    learn: bool = True


def _first_rule(item: ReviewItem) -> str | None:
    return next((str(r["rule"]) for r in item.rules if r.get("rule")), None)


def _culprit(item: ReviewItem, message: Message | None) -> tuple[SubjectType, int]:
    """Whose conduct the item is about: a message's sender, the account, the group."""
    if message is not None:
        return SubjectType.ACCOUNT, message.sender_id
    return SubjectType(item.subject_type), item.subject_id


def _sanction_subject(item: ReviewItem, message: Message | None,
                      wanted: SubjectType | None) -> tuple[SubjectType, int]:
    is_group = item.subject_type == SubjectType.GROUP
    if wanted is None:
        wanted = SubjectType.GROUP if is_group else SubjectType.ACCOUNT
    if wanted == SubjectType.ACCOUNT and not is_group:
        return _culprit(item, message)
    if wanted == SubjectType.GROUP:
        group_id = item.subject_id if is_group else item.group_id
        if group_id is not None:
            return SubjectType.GROUP, group_id
    raise QunguanError("decision_not_applicable", "The item has no such subject to sanction.",
                       problem="sanction_subject")


_OUTCOMES = {
    Decision.DISMISS: ("not_upheld",
                       "经审核，被举报的内容未违反规则，不作处理。 We reviewed your report and "
                       "found no breach of the rules; no action was taken."),
    Decision.REMOVE: ("upheld",
                      "经审核，举报属实，相关消息已删除。 We reviewed your report and removed the "
                      "message."),
    Decision.SANCTION: ("upheld",
                        "经审核，举报属实，已依规处理（处罚）。 We reviewed your report and took "
                        "action against the account or group responsible."),
    Decision.LABEL: ("upheld",
                     "经审核，该消息与已辟谣的说法相符，已附上辟谣信息。 We reviewed the message: "
                     "it repeats a debunked claim and now carries the fact check."),
}
REPORTER_REDRESS = ("如对处理结果有异议，可补充材料重新举报，或联系平台管理人员。 If you disagree, "
                    "you may report again with more information or contact the service's "
                    "officers.")


def _removal_statement(uow: UnitOfWork, acting: Account, item: ReviewItem, message: Message,
                       reason: str) -> None:
    rule = _first_rule(item)
    statements.issue_statement(
        uow, acting=acting, account_id=message.sender_id, measure="message_removed",
        facts=f"您的消息（编号 {message.id}）经人工审核后被删除。理由：{reason} "
        f"Your message {message.id} was removed after review. Reason: {reason}"
        + (f" Rule: {rule}." if rule else "")
        + (" Automated screening flagged it." if item.automated else ""),
        scope="this message", rule=rule, automated=item.automated, starts_at=uow.now(),
        ends_at=None, message_id=message.id, review_item_id=item.id,
        group_id=message.group_id)


def _require_reason(reason: str) -> str:
    reason = require_storable(reason, "reason").strip()
    if not reason:
        raise QunguanError("decision_reason_required", "Give a reason for the decision.")
    # It goes into the statement, the audit record and the reporters' outcome.
    return statements.require_no_personal_data(reason[:MAX_REASON_CHARS])


def _label(uow: UnitOfWork, acting: Account, message: Message, order: LabelOrder
           ) -> dict[str, Any]:
    debunk_id = order.debunk_id
    if debunk_id is None:
        best = rumor_queries.suggested_debunks(uow, message.text or "")  # earn a card
        if not best:
            raise QunguanError("decision_not_applicable", "No debunk matches the message; "
                               "name one (debunk_id).", problem="debunk_missing")
        debunk_id = best[0].debunk_id
    done = rumor_actions.do_confirm_match(uow, acting=acting, message_id=message.id,
                                          debunk_id=debunk_id, learn=order.learn)
    return {"debunk_id": done.entry.id, "debunk_version": done.entry.version,
            "labelled": done.labelled, "phrasing_id": done.phrasing_id,
            "not_learned": done.not_learned}


def do_decide(uow: UnitOfWork, *, acting: Account, item_id: int, decision: Decision,
              reason: str, sanction: SanctionOrder | None = None,
              label: LabelOrder | None = None) -> ReviewItem:
    """Decide an item under one's own live claim: dismiss (a held message is delivered),
    remove the message, remove it and impose a sanction, or label it with the debunk it
    repeats (it stays up, or is delivered if held, with the card). Reports of the item get
    their outcome; upheld ones count against the culprit's credit, except a label: repeating
    a rumour one believed is met with the facts, not a mark against one's credit."""
    item = _locked_item(uow, acting, item_id)
    _require_own_claim(uow, item, acting)
    reason = _require_reason(reason)
    message = (messaging_queries.message_by_id(uow, item.subject_id)
               if item.subject_type == SubjectType.MESSAGE else None)
    sanction_id: int | None = None
    # A held red envelope is "removed" by refusing it (envelopes' outbox handler refunds it).
    envelope = item.subject_type == SubjectType.ENVELOPE
    if decision == Decision.REMOVE and message is None and not envelope:
        raise QunguanError("decision_not_applicable", "Only a message can be removed.",
                           problem="not_a_message")
    if decision == Decision.SANCTION and envelope:
        raise QunguanError("decision_not_applicable", "A held envelope is released (dismiss) "
                           "or refused (remove); sanction its sender from an account item.",
                           problem="envelope_sanction")
    if decision == Decision.SANCTION and sanction is None:
        raise QunguanError("decision_not_applicable", "Say which sanction to impose.",
                           problem="sanction_missing")
    if decision != Decision.SANCTION and sanction is not None:
        raise QunguanError("decision_not_applicable", "Only decision=sanction imposes a "
                           "sanction; choose it, or leave the sanction out.",
                           problem="sanction_not_expected")
    if decision != Decision.LABEL and label is not None:
        raise QunguanError("decision_not_applicable", "Only decision=label attaches a "
                           "debunk; choose it, or leave debunk_id and learn out.",
                           problem="debunk_not_expected")
    if decision == Decision.LABEL and message is None:
        raise QunguanError("decision_not_applicable", "Only a message can be labelled.",
                           problem="not_a_message")
    if decision == Decision.LABEL and message is not None \
            and message.status == MessageStatus.HELD and message.recalled_at is None:
        # Labelling delivers a held message: not one held for more than a rumour.
        others = rumor_queries.rules_outside_rumours(message.labels)
        if others:
            raise QunguanError("decision_not_applicable", "The message is also held for "
                               f"{', '.join(others)}: remove it, or dismiss the item to "
                               "deliver it as it is.", problem="held_for_other_rules",
                               rules=others)
    labelled: dict[str, Any] | None = None
    if decision == Decision.LABEL:
        assert message is not None
        labelled = _label(uow, acting, message, label or LabelOrder())
        if message.status == MessageStatus.HELD and message.recalled_at is None:
            messaging_actions.do_release_message(uow, acting=acting, message_id=message.id,
                                                 reason=reason)
    elif decision == Decision.DISMISS:
        if message is not None and message.status == MessageStatus.HELD \
                and message.recalled_at is None:
            messaging_actions.do_release_message(uow, acting=acting, message_id=message.id,
                                                 reason=reason)
    elif message is not None and message.recalled_at is None:
        messaging_actions.do_remove_message(uow, acting=acting, message_id=message.id,
                                            reason=reason, decides_hold=True)
        # AT-1: the removal has its own statement (and appeal) beside any sanction's, so
        # overturning one does not have to overturn the other.
        _removal_statement(uow, acting, item, message, reason)
    if decision == Decision.SANCTION:
        assert sanction is not None
        subject_type, subject_id = _sanction_subject(item, message, sanction.subject)
        group_id = sanction.group_id
        if group_id is None and sanction.kind in (SanctionKind.MUTE,
                                                  SanctionKind.SUSPEND_ADMIN):
            group_id = item.group_id  # the group the conduct happened in
        row = sanctions.do_impose_sanction(
            uow, acting=acting, subject_type=subject_type, subject_id=subject_id,
            kind=sanction.kind, reason=reason, duration_seconds=sanction.duration_seconds,
            group_id=group_id, functions=list(sanction.functions) or None,
            rule=_first_rule(item), automated=False, review_item_id=item.id,
            message_id=message.id if message is not None else None,
            skip_warning_reason=sanction.skip_warning_reason)
        sanction_id = row.id
    now = uow.now()
    item.status = ItemStatus.DECIDED
    item.decision = decision
    item.decision_reason = reason
    item.decided_by = acting.id
    item.decided_at = now
    item.claimed_by = None
    item.claim_expires_at = None
    reports = item_reports(uow, item.id)
    outcome, text = _OUTCOMES[decision]
    if reports and outcome == "upheld" and decision != Decision.LABEL:
        culprit_type, culprit_id = _culprit(item, message)
        credit.record_upheld_report(uow, subject_type=culprit_type, subject_id=culprit_id,
                                    review_item_id=item.id)
    for report in reports:
        report.status = ReportStatus.DECIDED
        report.outcome = outcome
        report.outcome_text = f"{text} {REPORTER_REDRESS}"
        report.decided_at = now
        record_audit(uow, EventType.REPORT_DECIDED, acting=acting, subject_type="report",
                     subject_id=report.id, group_id=report.group_id,
                     extra={"review_item_id": item.id, "outcome": outcome})
        uow.emit(EventType.REPORT_DECIDED, account_ids=(report.reporter_id,),
                 report_id=report.id, outcome=outcome, outcome_text=report.outcome_text)
    record_audit(uow, EventType.REVIEW_ITEM_DECIDED, acting=acting, subject_type="review_item",
                 subject_id=item.id, group_id=item.group_id,
                 extra={"decision": decision, "reason": reason, "source": item.source,
                        "automated": item.automated, "rule": _first_rule(item),
                        "message_id": message.id if message is not None else None,
                        "sanction_id": sanction_id, "report_ids": [r.id for r in reports],
                        "label": labelled,
                        "opened_at": item.created_at.isoformat()})
    uow.emit(EventType.REVIEW_ITEM_DECIDED, item_id=item.id, decision=decision,
             sanction_id=sanction_id, target_group_id=item.group_id)
    return item
