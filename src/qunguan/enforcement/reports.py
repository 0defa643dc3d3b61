"""Member reports (CR-2, CR-3, AT-3): of a message, a member or a group, with a receipt now
and the outcome later.

A reporter may report only what they can see: a message or a group of theirs, a member they
share a group with; anything else answers not_found, so reports cannot probe for existence.
A report joins the open review item of its subject or opens one. Officers report like any
member, within what they can see as members; they may then review it like any other item.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from qunguan.enforcement import review
from qunguan.enforcement.models import (
    ItemSource,
    Report,
    ReportReason,
    ReportStatus,
    SubjectType,
)
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError, define_error
from qunguan.kernel.events import EventType
from qunguan.kernel.text import optional_text, require_storable
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.messaging import queries as messaging_queries

define_error("already_reported", 409, "You already reported this and your report is still "
             "open; details.report_id names it. You will be told the outcome.")
define_error("too_many_reports", 429, "You filed details.cap reports in the last 24 hours; "
             "try again later (EC-8: abusive reporting is limited).")

MAX_NOTE_CHARS = 2000

# How urgent a report is, by its reason: data leaks and confidential material spread harm
# with every minute, so they come first in the queue.
SEVERITY_BY_REASON: dict[ReportReason, int] = {
    ReportReason.PERSONAL_DATA: 4, ReportReason.CONFIDENTIAL: 4, ReportReason.FRAUD: 3,
    ReportReason.HARASSMENT: 3, ReportReason.VOTE_BUYING: 3, ReportReason.RUMOR: 2,
    ReportReason.IMPERSONATION: 2, ReportReason.SPAM: 1, ReportReason.OTHER: 1,
}

NEXT_STEPS = ("举报已收到，将由管理人员人工审核，处理结果会通知您。 Your report was received; an "
              "officer will review it and you will be told the outcome.")


def _subject_group(uow: UnitOfWork, acting: Account, subject_type: SubjectType,
                   subject_id: int) -> int | None:
    """The group the subject belongs to, if the reporter may see the subject; not_found
    otherwise, the same answer as for a subject that does not exist."""
    if subject_type == SubjectType.MESSAGE:
        return messaging_queries.access_message(uow, viewer=acting, message_id=subject_id).group_id
    if subject_type == SubjectType.GROUP:
        group, _ = group_queries.access_membership(uow, viewer=acting, group_id=subject_id)
        return group.id
    if subject_type != SubjectType.ACCOUNT:  # envelopes are queued by their own rules
        raise QunguanError("invalid_request", "Report a message, an account or a group "
                           "(for a red envelope: its sender's account).",
                           fields=["subject_type"])
    shared = group_queries.member_group_ids(uow, acting.id) & \
        group_queries.member_group_ids(uow, subject_id)
    if subject_id == acting.id or not shared:
        raise QunguanError("not_found", "No such account.")
    return None


def do_file_report(uow: UnitOfWork, *, acting: Account, subject_type: SubjectType,
                   subject_id: int, reason: ReportReason, note: str | None,
                   good_faith: bool) -> Report:
    """File the report, audit it, and put its subject in the review queue."""
    group_id = _subject_group(uow, acting, subject_type, subject_id)
    note = optional_text(require_storable(note or "", "note"), MAX_NOTE_CHARS)
    now = uow.now()
    # The reporter's account row, locked: two reports by one member racing on PostgreSQL
    # would both pass the duplicate check and the daily cap below. One at a time, they don't.
    uow.session.get(Account, acting.id, with_for_update=True)
    open_one = uow.session.scalar(select(Report.id).where(
        Report.reporter_id == acting.id, Report.subject_type == subject_type,
        Report.subject_id == subject_id, Report.status == ReportStatus.OPEN).limit(1))
    if open_one is not None:
        raise QunguanError("already_reported", "You already reported this.", report_id=open_one)
    cap = uow.settings.report_daily_cap
    recent = uow.session.scalar(select(func.count()).select_from(Report).where(
        Report.reporter_id == acting.id, Report.created_at > now - timedelta(days=1))) or 0
    if recent >= cap:
        raise QunguanError("too_many_reports", "Too many reports today.", cap=cap)
    report = Report(reporter_id=acting.id, subject_type=subject_type, subject_id=subject_id,
                    group_id=group_id, reason=reason, note=note, good_faith=good_faith,
                    status=ReportStatus.OPEN, created_at=now)
    uow.session.add(report)
    uow.session.flush()
    item, _ = review.open_item(
        uow, acting=acting, source=ItemSource.REPORT, subject_type=subject_type,
        subject_id=subject_id, group_id=group_id, severity=SEVERITY_BY_REASON[reason],
        rules=[{"rule": f"report.{reason}", "source": ItemSource.REPORT, "automated": False,
                "report_id": report.id}], automated=False)
    report.review_item_id = item.id
    # The note stays out of the record's extra: it is free text and may carry personal data.
    record_audit(uow, EventType.REPORT_FILED, acting=acting, subject_type=subject_type,
                 subject_id=subject_id, group_id=group_id,
                 extra={"report_id": report.id, "reason": reason, "good_faith": good_faith,
                        "review_item_id": item.id, "has_note": note is not None})
    uow.emit(EventType.REPORT_FILED, account_ids=(acting.id,), report_id=report.id,
             review_item_id=item.id, reason=reason)
    return report


def my_reports(uow: UnitOfWork, viewer: Account, limit: int = 100) -> list[Report]:
    return list(uow.session.scalars(select(Report).where(Report.reporter_id == viewer.id)
                                    .order_by(Report.id.desc()).limit(max(1, min(limit, 500)))))


def group_reports(uow: UnitOfWork, *, viewer: Account, group_id: int,
                  limit: int = 100) -> list[Report]:
    """Reports about a group's messages, members or the group itself, for its founder and
    admins (GA-8) and for officers (any group's). The caller must not show who reported:
    reporters are protected (CR-3)."""
    if viewer.is_officer:
        group_queries.access_group(uow, viewer=viewer, group_id=group_id)  # not_found
    else:
        group_queries.require_manager(uow, viewer=viewer, group_id=group_id)
    return list(uow.session.scalars(select(Report).where(Report.group_id == group_id)
                                    .order_by(Report.id.desc()).limit(max(1, min(limit, 500)))))


def access_report(uow: UnitOfWork, *, viewer: Account, report_id: int) -> Report:
    """One's own report; anyone else's answers like a missing one."""
    report = uow.session.get(Report, report_id)
    if report is None or report.reporter_id != viewer.id:
        raise QunguanError("not_found", "No such report.")
    return report


def next_steps(report: Report) -> str:
    return NEXT_STEPS if report.status == ReportStatus.OPEN else (report.outcome_text or "")

