"""API of reports, the review queue and emergency mode (thin: one action or query each).

Importing this module defines the error codes of ``reports``, ``review`` and ``emergency``
and registers the review queue's outbox handlers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qunguan.enforcement import emergency, reports, review
from qunguan.enforcement.intake_schemas import (
    DecisionIn,
    FreezeIn,
    FreezeOut,
    PurgeIn,
    PurgeOut,
    ReportCreate,
    ReportReceipt,
    ReviewItemDetail,
    ReviewItemPublic,
    UnfreezeIn,
)
from qunguan.enforcement.models import ItemSource, ItemStatus, Report
from qunguan.identity import CurrentAccount
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.web import IdPath, UowDep

router = APIRouter(prefix="/api", tags=["reports and review"])

OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _receipt(report: Report) -> ReportReceipt:
    return ReportReceipt(id=report.id, subject_type=report.subject_type,
                         subject_id=report.subject_id, reason=report.reason,
                         good_faith=report.good_faith, status=report.status,
                         created_at=report.created_at, next_steps=reports.next_steps(report),
                         outcome=report.outcome, decided_at=report.decided_at)


@router.post("/reports", status_code=201, response_model=ReportReceipt)
def file_report(body: ReportCreate, uow: UowDep, me: CurrentAccount) -> ReportReceipt:
    return _receipt(reports.do_file_report(uow, acting=me, subject_type=body.subject_type,
                                           subject_id=body.subject_id, reason=body.reason,
                                           note=body.note, good_faith=body.good_faith))


@router.get("/me/reports", response_model=list[ReportReceipt])
def list_my_reports(uow: UowDep, me: CurrentAccount) -> list[ReportReceipt]:
    return [_receipt(r) for r in reports.my_reports(uow, me)]


@router.get("/me/reports/{report_id}", response_model=ReportReceipt)
def get_my_report(report_id: IdPath, uow: UowDep, me: CurrentAccount) -> ReportReceipt:
    return _receipt(reports.access_report(uow, viewer=me, report_id=report_id))


@router.get("/officer/review", response_model=list[ReviewItemPublic])
def list_review_items(uow: UowDep, me: CurrentAccount, status: ItemStatus = ItemStatus.OPEN,
                      source: ItemSource | None = None, group_id: OptionalId = None,
                      limit: Annotated[int, Query(ge=1, le=review.MAX_PAGE)] = 50,
                      ) -> list[ReviewItemPublic]:
    items = review.list_items(uow, viewer=me, status=status, source=source, group_id=group_id,
                              limit=limit)
    return [ReviewItemPublic.model_validate(i, from_attributes=True) for i in items]


@router.get("/officer/review/{item_id}", response_model=ReviewItemDetail)
def get_review_item(item_id: IdPath, uow: UowDep, me: CurrentAccount) -> ReviewItemDetail:
    detail = review.item_detail(uow, viewer=me, item_id=item_id)
    return ReviewItemDetail.model_validate(
        {**detail, "item": ReviewItemPublic.model_validate(detail["item"],
                                                           from_attributes=True)})


@router.post("/officer/review/{item_id}/claim", response_model=ReviewItemPublic)
def claim_review_item(item_id: IdPath, uow: UowDep, me: CurrentAccount) -> ReviewItemPublic:
    item = review.do_claim(uow, acting=me, item_id=item_id)
    return ReviewItemPublic.model_validate(item, from_attributes=True)


@router.post("/officer/review/{item_id}/release", response_model=ReviewItemPublic)
def release_review_item(item_id: IdPath, uow: UowDep, me: CurrentAccount) -> ReviewItemPublic:
    item = review.do_release(uow, acting=me, item_id=item_id)
    return ReviewItemPublic.model_validate(item, from_attributes=True)


@router.post("/officer/review/{item_id}/decide", response_model=ReviewItemPublic)
def decide_review_item(item_id: IdPath, body: DecisionIn, uow: UowDep,
                       me: CurrentAccount) -> ReviewItemPublic:
    order = None
    if body.sanction is not None:
        s = body.sanction
        order = review.SanctionOrder(kind=s.kind, duration_seconds=s.duration_seconds,
                                     functions=tuple(s.functions), group_id=s.group_id,
                                     subject=s.subject,
                                     skip_warning_reason=s.skip_warning_reason)
    label = None
    if body.debunk_id is not None or not body.learn:
        label = review.LabelOrder(debunk_id=body.debunk_id, learn=body.learn)
    item = review.do_decide(uow, acting=me, item_id=item_id, decision=body.decision,
                            reason=body.reason, sanction=order, label=label)
    return ReviewItemPublic.model_validate(item, from_attributes=True)


@router.post("/officer/emergency/freeze", response_model=FreezeOut)
def freeze(body: FreezeIn, uow: UowDep, me: CurrentAccount) -> FreezeOut:
    result = emergency.do_freeze(uow, acting=me, reason=body.reason, group_id=body.group_id,
                                 category=body.category, duration_seconds=body.duration_seconds)
    return FreezeOut(group_ids=result.group_ids, sanction_ids=result.sanction_ids,
                     already_frozen=result.already_frozen)


@router.post("/officer/emergency/unfreeze", response_model=FreezeOut)
def unfreeze(body: UnfreezeIn, uow: UowDep, me: CurrentAccount) -> FreezeOut:
    result = emergency.do_unfreeze(uow, acting=me, reason=body.reason, group_id=body.group_id,
                                   category=body.category)
    return FreezeOut(group_ids=result.group_ids, sanction_ids=result.sanction_ids,
                     already_frozen=result.already_frozen)


@router.post("/officer/emergency/purge", response_model=PurgeOut)
def purge(body: PurgeIn, uow: UowDep, me: CurrentAccount) -> PurgeOut:
    result = emergency.do_purge(uow, acting=me, reason=body.reason, message_id=body.message_id,
                                fingerprint=body.fingerprint)
    return PurgeOut.model_validate(result.public())
