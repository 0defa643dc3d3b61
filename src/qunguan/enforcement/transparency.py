"""The periodic transparency report (AT-5; DSA Art. 15, 24): what was reported, what was done,
by automation or by people, what was appealed and reversed, and how long it all took.

``build_report`` reads the period's rows and audit records into a plain dict (the JSON file,
schema in docs/enforcement.md); ``render_html`` turns that dict into a readable page. The
page is a Jinja2 template shipped with the package, autoescaped.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import jinja2
from sqlalchemy import func, select

from qunguan.enforcement.emergency import FREEZE_RULE
from qunguan.enforcement.models import (
    Appeal,
    AppealStatus,
    ItemStatus,
    Report,
    ReportStatus,
    ReviewItem,
    Sanction,
    Statement,
)
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.uow import UnitOfWork

SCHEMA = "qunguan.transparency/1"


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC): both dates count, whole days."""
    if end < start:
        raise ValueError("the period ends before it starts")
    return (datetime.combine(start, time(), UTC),
            datetime.combine(end + timedelta(days=1), time(), UTC))


def _median_seconds(pairs: Iterable[tuple[datetime, datetime | None]]) -> float | None:
    spans = [(done - began).total_seconds() for began, done in pairs if done is not None]
    return round(statistics.median(spans), 1) if spans else None


def build_report(uow: UnitOfWork, start: date, end: date,
                 step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every figure of the report for the days ``start``..``end`` (inclusive, UTC).

    ``step`` is told the name of each section as it is computed (the CLI shows progress)."""
    lo, hi = period_bounds(start, end)
    s = uow.session
    tell = step or (lambda _: None)

    def within(column: Any) -> Any:
        return (column >= lo) & (column < hi)

    def audits(type_: EventType) -> list[AuditRecord]:
        return list(s.scalars(select(AuditRecord).where(
            AuditRecord.event_type == int(type_), within(AuditRecord.occurred_at))))

    def count(type_: EventType) -> int:
        return int(s.scalar(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.event_type == int(type_), within(AuditRecord.occurred_at))) or 0)

    tell("reports")
    filed = list(s.scalars(select(Report).where(within(Report.created_at))))
    decided_reports = list(s.scalars(select(Report).where(
        Report.status == ReportStatus.DECIDED, within(Report.decided_at))))
    reports = {
        "received": len(filed),
        "by_reason": dict(sorted(Counter(r.reason for r in filed).items())),
        "by_subject_type": dict(sorted(Counter(r.subject_type for r in filed).items())),
        "good_faith_declared": sum(1 for r in filed if r.good_faith),
        "decided": len(decided_reports),
        "upheld": sum(1 for r in decided_reports if r.outcome == "upheld"),
        "not_upheld": sum(1 for r in decided_reports if r.outcome == "not_upheld"),
    }

    tell("review queue")
    opened = list(s.scalars(select(ReviewItem).where(within(ReviewItem.created_at))))
    decided_items = list(s.scalars(select(ReviewItem).where(
        ReviewItem.status == ItemStatus.DECIDED, within(ReviewItem.decided_at))))
    review = {
        "opened": len(opened),
        "by_source": dict(sorted(Counter(i.source for i in opened).items())),
        "decided": len(decided_items),
        "by_decision": dict(sorted(Counter(str(i.decision) for i in decided_items).items())),
        "open_at_end": int(s.scalar(select(func.count()).select_from(ReviewItem).where(
            ReviewItem.created_at < hi,
            (ReviewItem.decided_at.is_(None)) | (ReviewItem.decided_at >= hi))) or 0),
    }

    tell("actions")
    sanctions = list(s.scalars(select(Sanction).where(within(Sanction.created_at))))
    frozen = audits(EventType.GROUPS_FROZEN)
    purged = audits(EventType.FINGERPRINT_PURGED)
    actions = {
        "messages_removed": count(EventType.MESSAGE_REMOVED),
        "messages_removed_by_group_admins": count(EventType.MESSAGE_DELETED),
        "held_messages_released": count(EventType.MESSAGE_RELEASED),
        "sanctions": len(sanctions),
        "sanctions_by_kind": dict(sorted(Counter(x.kind for x in sanctions).items())),
        "sanctions_by_subject_type": dict(sorted(Counter(x.subject_type
                                                         for x in sanctions).items())),
        "statements_issued": int(s.scalar(select(func.count()).select_from(Statement).where(
            within(Statement.created_at))) or 0),
        "emergency": {
            # An officer's freezes; a group founded in a frozen category inherits one, and
            # is counted among the groups frozen.
            "freezes": sum(1 for r in frozen if not r.extra.get("inherited")),
            "groups_frozen": sum(len(r.extra.get("group_ids") or []) for r in frozen),
            "unfreezes": count(EventType.GROUPS_UNFROZEN),
            "purges": len(purged),
            "copies_purged": sum(int(r.extra.get("copies") or 0) for r in purged),
        },
    }

    tell("automation")
    automation = {
        # What automation did on its own: it may hold, block at the gate, label and queue.
        "automated": {
            "messages_held": count(EventType.MESSAGE_HELD),
            "messages_blocked": count(EventType.MESSAGE_BLOCKED),
            "post_send_flags": count(EventType.SCREENING_FLAGGED),
            "review_items_opened": sum(1 for i in opened if i.automated),
            "sanctions": sum(1 for x in sanctions if x.automated),
        },
        # What people decided, and how many of those decisions started from automation.
        "human": {
            "review_decisions": len(decided_items),
            "review_decisions_on_automated_detection": sum(1 for i in decided_items
                                                           if i.automated),
            "sanctions": sum(1 for x in sanctions if not x.automated),
        },
    }

    tell("appeals")
    filed_appeals = list(s.scalars(select(Appeal).where(within(Appeal.created_at))))
    decided_appeals = list(s.scalars(select(Appeal).where(
        Appeal.status != AppealStatus.OPEN, within(Appeal.decided_at))))
    appeals = {
        "filed": len(filed_appeals),
        "decided": len(decided_appeals),
        "upheld": sum(1 for a in decided_appeals if a.status == AppealStatus.UPHELD),
        "overturned": sum(1 for a in decided_appeals if a.status == AppealStatus.OVERTURNED),
    }
    reversals = {
        "appeals_overturned": appeals["overturned"],
        "sanctions_overturned": int(s.scalar(select(func.count()).select_from(Sanction).where(
            within(Sanction.overturned_at))) or 0),
        # An officer's lift before the end: not an overturned appeal (counted above) and
        # not the end of an emergency freeze (actions.emergency.unfreezes).
        "sanctions_lifted_early": int(s.scalar(select(func.count()).select_from(Sanction).where(
            within(Sanction.lifted_at), Sanction.overturned_at.is_(None),
            Sanction.rule.is_distinct_from(FREEZE_RULE),
            Sanction.ends_at.is_(None) | (Sanction.lifted_at < Sanction.ends_at))) or 0),
        "messages_restored": count(EventType.MESSAGE_RESTORED),
    }

    tell("median times")
    medians = {
        "report_to_decision": _median_seconds((r.created_at, r.decided_at)
                                              for r in decided_reports),
        "review_item_to_decision": _median_seconds((i.created_at, i.decided_at)
                                                   for i in decided_items),
        "appeal_to_decision": _median_seconds((a.created_at, a.decided_at)
                                              for a in decided_appeals),
    }
    return {"schema": SCHEMA, "period": {"from": start.isoformat(), "to": end.isoformat()},
            "generated_at": uow.now().astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "reports": reports, "review_queue": review, "actions": actions,
            "automation": automation, "appeals": appeals, "reversals": reversals,
            "median_seconds": medians}


# --- the readable page ----------------------------------------------------------------------

SECTIONS = (
    ("reports", "举报 Reports received"),
    ("review_queue", "审核队列 Review queue"),
    ("actions", "处置 Actions taken"),
    ("automation", "自动化与人工 Automated and human"),
    ("appeals", "申诉 Appeals"),
    ("reversals", "撤销 Reversals"),
    ("median_seconds", "中位时长 Median times (seconds)"),
)


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("qunguan.enforcement", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(report: dict[str, Any]) -> str:
    """The page for people: a Jinja2 template shipped in ``templates/``, autoescaped."""
    return _ENV.get_template("transparency.html").render(
        report=report, sections=[(title, report[key]) for key, title in SECTIONS])
