"""Sanctions and appeals: the list of measures, lifting one early with a reason, and deciding
an appeal (four-eyes, as the API enforces it in enforcement.appeals)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from qunguan.enforcement import AppealStatus, appeals, sanctions
from qunguan.enforcement import queries as enforcement_queries
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.web.forms import FormErrors, attempt
from qunguan.web.i18n import N_, OFFICER, gettext_for
from qunguan.web.officer.common import (
    OfficerAccount,
    display_names,
    officer_explain,
    subject_text,
)
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MAX_REASON_FIELD = 1500
STATUSES = {"open": N_("Open"), "upheld": N_("Upheld"), "overturned": N_("Overturned")}
OUTCOMES = {"upheld": N_("Uphold the decision"),
            "overturned": N_("Overturn it (lift the sanction, restore the message)")}
PAGE = 200


MAX_LIFT_REASON = 2000  # the API's LiftIn


def _sanctions_page(request: Request, uow: UnitOfWork, me: Account, *, active: str,
                    lift_id: int | None = None, lift_errors: FormErrors | None = None,
                    reason: str = "", status: int = 200) -> Response:
    only = {"1": True, "0": False}.get(active)
    rows = enforcement_queries.officer_sanctions(uow, viewer=me, subject_type=None,
                                                 subject_id=None, active=only, limit=PAGE)
    return page(request, "officer/sanctions.html", status=status, sanctions=rows,
                active=active, subject_text=subject_text, lift_id=lift_id,
                lift_errors=lift_errors or FormErrors(), reason=reason,
                names=display_names(uow, [i for s in rows
                                          for i in (s["imposed_by"], s.get("lifted_by")) if i]))


@router.get("/officer/sanctions")
def sanctions_list(request: Request, uow: UowDep, me: OfficerAccount,
                   active: Annotated[str, Query(max_length=8)] = "") -> Response:
    return _sanctions_page(request, uow, me, active=active)


@router.post("/officer/sanctions/{sanction_id}/lift")
def lift_sanction(request: Request, sanction_id: IdPath, uow: UowDep, me: OfficerAccount,
                  _csrf: Csrf, reason: Annotated[str, Form()] = "") -> Response:
    """End a sanction early (not an appeal: its credit and its rung stay). The measure's
    subject is told through SANCTION_LIFTED, and the reason is on the record."""
    _ = gettext_for(language(request), OFFICER)
    errors = FormErrors()
    errors.require("reason", reason, MAX_LIFT_REASON, _("Say why the sanction may end early."),
                   _("This is too long."))
    if not errors:
        result = attempt(uow, lambda: sanctions.do_lift_sanction(
            uow, acting=me, sanction_id=sanction_id, reason=reason))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/sanctions?lifted={sanction_id}")
        if result.code == "not_found":
            raise result
        errors = officer_explain(result, _)
    return _sanctions_page(request, uow, me, active="", lift_id=sanction_id,
                           lift_errors=errors, reason=reason[:MAX_LIFT_REASON], status=422)


@router.get("/officer/appeals")
def appeals_list(request: Request, uow: UowDep, me: OfficerAccount,
                 status: Annotated[str, Query(max_length=16)] = "open") -> Response:
    chosen = AppealStatus(status) if status in set(AppealStatus) else None
    rows = enforcement_queries.officer_appeals(uow, viewer=me, status=chosen, limit=PAGE)
    return page(request, "officer/appeals.html", appeals=rows, filter_status=status,
                statuses=STATUSES,
                names=display_names(uow, [a["appellant_id"] for a in rows]))


def _appeal_context(uow: UnitOfWork, me: Account, appeal_id: int) -> dict[str, Any]:
    view = enforcement_queries.appeal_view(
        uow, appeals.access_appeal(uow, viewer=me, appeal_id=appeal_id))
    names = display_names(uow, [view["appellant_id"], view["decided_by"], view["original_decider"]])
    own = me.id in (view["original_decider"], view["appellant_id"])
    return {"appeal": view, "names": names, "own": own, "outcomes": OUTCOMES,
            "statuses": STATUSES}


@router.get("/officer/appeals/{appeal_id}")
def appeal_page(request: Request, appeal_id: IdPath, uow: UowDep,
                me: OfficerAccount) -> Response:
    return page(request, "officer/appeal.html", errors=FormErrors(), values={},
                **_appeal_context(uow, me, appeal_id))


@router.post("/officer/appeals/{appeal_id}/decide")
def decide_appeal(request: Request, appeal_id: IdPath, uow: UowDep, me: OfficerAccount,
                  _csrf: Csrf, outcome: Annotated[str, Form()] = "",
                  reason: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    values = {"outcome": outcome, "reason": reason[:MAX_REASON_FIELD]}
    errors = FormErrors()
    if outcome not in OUTCOMES:
        errors.add("outcome", _("Choose an outcome."))
    if not reason.strip():
        errors.add("reason", _("Give a reason: the member reads it."))
    elif len(reason) > MAX_REASON_FIELD:
        errors.add("reason", _("This is too long."))
    if not errors:
        result = attempt(uow, lambda: appeals.do_decide_appeal(
            uow, acting=me, appeal_id=appeal_id, outcome=appeals.Outcome(outcome),
            reason=reason))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/appeals/{appeal_id}?decided=1")
        errors = officer_explain(result, _)
    return page(request, "officer/appeal.html", status=422, errors=errors, values=values,
                **_appeal_context(uow, me, appeal_id))
