"""Sanctions and appeals: the list of measures, and deciding an appeal (four-eyes, as the API
enforces it in enforcement.appeals)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from qunguan.enforcement import AppealStatus, appeals
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


@router.get("/officer/sanctions")
def sanctions_list(request: Request, uow: UowDep, me: OfficerAccount,
                   active: Annotated[str, Query(max_length=8)] = "") -> Response:
    only = {"1": True, "0": False}.get(active)
    rows = enforcement_queries.officer_sanctions(uow, viewer=me, subject_type=None,
                                                 subject_id=None, active=only, limit=PAGE)
    return page(request, "officer/sanctions.html", sanctions=rows, active=active,
                subject_text=subject_text,
                names=display_names(uow, [s["imposed_by"] for s in rows]))


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
