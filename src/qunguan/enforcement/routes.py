"""Sanctions, credit, statements of reasons and appeals API (EC-1..EC-8, AT-1, AT-2)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from qunguan.enforcement import appeals, queries, sanctions
from qunguan.enforcement.models import AppealStatus, SanctionKind, SubjectType
from qunguan.enforcement.schemas import (
    MAX_ID,
    AppealCreate,
    AppealDecide,
    AppealOfficerView,
    AppealPublic,
    CreditPublic,
    LiftIn,
    NextStepPublic,
    SanctionCreate,
    SanctionOfficerView,
    SanctionPublic,
    StatementPublic,
)
from qunguan.identity import CurrentAccount
from qunguan.kernel.restrictions import Function
from qunguan.kernel.web import IdPath, UowDep

router = APIRouter(prefix="/api", tags=["enforcement"])

SubjectPath = Annotated[Literal["account", "group"], Path()]
Limit = Annotated[int, Query(ge=1, le=500)]


# --- the member's side ----------------------------------------------------------------


@router.get("/me/sanctions", response_model=list[SanctionPublic])
def my_sanctions(uow: UowDep, me: CurrentAccount) -> list[SanctionPublic]:
    return [SanctionPublic.model_validate(v) for v in queries.my_sanctions(uow, viewer=me)]


@router.get("/me/credit", response_model=CreditPublic)
def my_credit(uow: UowDep, me: CurrentAccount) -> CreditPublic:
    return CreditPublic.model_validate(queries.my_credit(uow, viewer=me))


@router.get("/me/statements", response_model=list[StatementPublic])
def my_statements(uow: UowDep, me: CurrentAccount) -> list[StatementPublic]:
    return [StatementPublic.model_validate(v) for v in queries.my_statements(uow, viewer=me)]


@router.get("/me/statements/{statement_id}", response_model=StatementPublic)
def my_statement(statement_id: IdPath, uow: UowDep, me: CurrentAccount) -> StatementPublic:
    return StatementPublic.model_validate(
        queries.my_statement(uow, viewer=me, statement_id=statement_id))


@router.post("/me/statements/{statement_id}/appeal", status_code=201,
             response_model=AppealPublic)
def appeal(statement_id: IdPath, body: AppealCreate, uow: UowDep,
           me: CurrentAccount) -> AppealPublic:
    row = appeals.do_file_appeal(uow, acting=me, statement_id=statement_id, text=body.text)
    return AppealPublic.model_validate(row)


# --- officers -------------------------------------------------------------------------


@router.post("/officer/sanctions", status_code=201, response_model=SanctionOfficerView)
def impose(body: SanctionCreate, uow: UowDep, me: CurrentAccount) -> SanctionOfficerView:
    row = sanctions.do_impose_sanction(
        uow, acting=me, subject_type=SubjectType(body.subject_type), subject_id=body.subject_id,
        kind=SanctionKind(body.kind), reason=body.reason,
        duration_seconds=body.duration_seconds, group_id=body.group_id,
        functions=[Function(f) for f in body.functions] if body.functions else None,
        rule=body.rule, review_item_id=body.review_item_id, message_id=body.message_id,
        skip_warning_reason=body.skip_warning_reason, credit_delta=body.credit_delta)
    return SanctionOfficerView.model_validate(queries.sanction_view(uow, row))


@router.get("/officer/sanctions", response_model=list[SanctionOfficerView])
def list_sanctions(uow: UowDep, me: CurrentAccount,
                   subject_type: Literal["account", "group"] | None = None,
                   subject_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                   active: bool | None = None, limit: Limit = 100) -> list[SanctionOfficerView]:
    rows = queries.officer_sanctions(
        uow, viewer=me, subject_type=SubjectType(subject_type) if subject_type else None,
        subject_id=subject_id, active=active, limit=limit)
    return [SanctionOfficerView.model_validate(v) for v in rows]


@router.get("/officer/sanctions/next-step", response_model=NextStepPublic)
def next_step(uow: UowDep, me: CurrentAccount, subject_type: Literal["account", "group"],
              subject_id: Annotated[int, Query(ge=1, le=MAX_ID)]) -> NextStepPublic:
    step = queries.next_step(uow, viewer=me, subject_type=SubjectType(subject_type),
                             subject_id=subject_id)
    return NextStepPublic(subject_type=step.subject_type, subject_id=step.subject_id,
                          kind=step.kind.value if step.kind else None, previous=step.previous,
                          explanation=step.explanation)


@router.post("/officer/sanctions/{sanction_id}/lift", response_model=SanctionOfficerView)
def lift(sanction_id: IdPath, body: LiftIn, uow: UowDep,
         me: CurrentAccount) -> SanctionOfficerView:
    row = sanctions.do_lift_sanction(uow, acting=me, sanction_id=sanction_id, reason=body.reason)
    return SanctionOfficerView.model_validate(queries.sanction_view(uow, row))


@router.get("/officer/credit/{subject_type}/{subject_id}", response_model=CreditPublic)
def subject_credit(subject_type: SubjectPath, subject_id: IdPath, uow: UowDep,
                   me: CurrentAccount) -> CreditPublic:
    return CreditPublic.model_validate(queries.subject_credit(
        uow, viewer=me, subject_type=SubjectType(subject_type), subject_id=subject_id))


@router.get("/officer/appeals", response_model=list[AppealOfficerView])
def list_appeals(uow: UowDep, me: CurrentAccount,
                 status: Literal["open", "upheld", "overturned"] | None = None,
                 limit: Limit = 100) -> list[AppealOfficerView]:
    rows = queries.officer_appeals(uow, viewer=me,
                                   status=AppealStatus(status) if status else None, limit=limit)
    return [AppealOfficerView.model_validate(v) for v in rows]


@router.post("/officer/appeals/{appeal_id}/decide", response_model=AppealOfficerView)
def decide_appeal(appeal_id: IdPath, body: AppealDecide, uow: UowDep,
                  me: CurrentAccount) -> AppealOfficerView:
    row = appeals.do_decide_appeal(uow, acting=me, appeal_id=appeal_id,
                                   outcome=appeals.Outcome(body.outcome), reason=body.reason)
    return AppealOfficerView.model_validate(queries.appeal_view(uow, row))
