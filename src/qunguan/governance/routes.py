"""Governance API (officers): legal holds, the retention report, dual-control unmasking,
case export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from qunguan.governance import actions, queries
from qunguan.governance.schemas import (
    CaseExport,
    HoldCreate,
    HoldLift,
    HoldPublic,
    RetentionReport,
    UnmaskCreate,
    UnmaskDecision,
    UnmaskedIdentity,
    UnmaskPublic,
    UnmaskRejection,
)
from qunguan.identity import CurrentAccount
from qunguan.kernel.web import IdPath, UowDep

router = APIRouter(prefix="/api/officer", tags=["governance"])


@router.post("/legal-holds", status_code=201, response_model=HoldPublic)
def place_hold(body: HoldCreate, uow: UowDep, me: CurrentAccount) -> Any:
    return actions.do_place_hold(uow, acting=me, scope=body.scope, scope_id=body.scope_id,
                                 reason=body.reason)


@router.get("/legal-holds", response_model=list[HoldPublic])
def list_holds(uow: UowDep, me: CurrentAccount,
               all: Annotated[bool, Query(description="Lifted holds too")] = False) -> Any:
    return queries.list_holds(uow, viewer=me, active_only=not all)


@router.post("/legal-holds/{hold_id}/lift", response_model=HoldPublic)
def lift_hold(hold_id: IdPath, body: HoldLift, uow: UowDep, me: CurrentAccount) -> Any:
    return actions.do_lift_hold(uow, acting=me, hold_id=hold_id, reason=body.reason)


@router.get("/retention", response_model=RetentionReport)
def retention_report(uow: UowDep, me: CurrentAccount) -> Any:
    return queries.retention_report(uow, viewer=me)


@router.post("/unmaskings", status_code=201, response_model=UnmaskPublic)
def request_unmasking(body: UnmaskCreate, uow: UowDep, me: CurrentAccount) -> Any:
    return actions.do_request_unmasking(uow, acting=me, case_id=body.case_id,
                                        reason=body.reason, account_id=body.account_id,
                                        cluster_id=body.cluster_id)


@router.get("/unmaskings", response_model=list[UnmaskPublic])
def list_unmaskings(uow: UowDep, me: CurrentAccount) -> Any:
    return queries.list_unmaskings(uow, viewer=me)


@router.post("/unmaskings/{request_id}/approve", response_model=UnmaskPublic)
def approve_unmasking(request_id: IdPath, body: UnmaskDecision, uow: UowDep,
                      me: CurrentAccount) -> Any:
    return actions.do_approve_unmasking(uow, acting=me, request_id=request_id, note=body.note)


@router.post("/unmaskings/{request_id}/reject", response_model=UnmaskPublic)
def reject_unmasking(request_id: IdPath, body: UnmaskRejection, uow: UowDep,
                     me: CurrentAccount) -> Any:
    return actions.do_reject_unmasking(uow, acting=me, request_id=request_id, note=body.note)


@router.post("/unmaskings/{request_id}/reveal", response_model=UnmaskedIdentity,
             tags=["vault"])
def reveal_unmasked(request_id: IdPath, uow: UowDep, me: CurrentAccount) -> UnmaskedIdentity:
    """Vault path: the requester's one read of an approved unmasking."""
    row, fields = actions.do_reveal_unmasked(uow, acting=me, request_id=request_id)
    return UnmaskedIdentity(request_id=row.id, account_id=row.account_id,
                            legal_name=fields.get("legal_name"),
                            id_number=fields.get("id_number"))


@router.post("/cases/{case_id}/export", response_model=CaseExport)
def export_case(case_id: IdPath, uow: UowDep, me: CurrentAccount) -> CaseExport:
    bundle, html = actions.do_export_case(uow, acting=me, case_id=case_id)
    return CaseExport(bundle=bundle, report_html=html)
