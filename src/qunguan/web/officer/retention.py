"""Legal holds and the retention report (docs/retention.md): list holds, place one on a case, a
group or an account with a reason, lift one with a reason; what is due, what is held and why,
over governance.actions and governance.queries as the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from qunguan.governance import HoldScope
from qunguan.governance import actions as governance_actions
from qunguan.governance import queries as governance_queries
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.web.forms import FormErrors, attempt
from qunguan.web.i18n import N_, OFFICER, Gettext, gettext_for
from qunguan.web.officer.common import (
    OfficerAccount,
    display_names,
    officer_explain,
    parse_positive,
)
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MAX_REASON = 2000  # the API's Reason
SCOPES = {"case": N_("A case (review item)"), "group": N_("A group"),
          "account": N_("An account")}
SCOPE_NAMES = {"case": N_("Case %(id)s"), "group": N_("Group %(id)s"),
               "account": N_("Account %(id)s")}
NO_SUCH = {"case": N_("No such case: give the number of a review item."),
           "group": N_("No such group."), "account": N_("No such account.")}
KINDS = {"messages": N_("Message texts"), "screening_evidence": N_("Screening evidence"),
         "outbox_events": N_("Processed outbox events"),
         "login_attempts": N_("Failed logins"), "auth_tokens": N_("Expired sessions"),
         "audit_content": N_("Content of audit records"),
         "archived_events": N_("Imported chat archives")}


def _scope_text(_: Gettext, scope: str, scope_id: int) -> str:
    return _(SCOPE_NAMES[scope], id=scope_id) if scope in SCOPE_NAMES else f"{scope} {scope_id}"


def _holds_page(request: Request, uow: UnitOfWork, me: Account, *, show_all: bool,
                errors: FormErrors, values: dict[str, str], lift_id: int | None = None,
                lift_errors: FormErrors | None = None, status: int = 200) -> Response:
    holds = governance_queries.list_holds(uow, viewer=me, active_only=not show_all)
    covers = {h.id: governance_queries.hold_coverage(uow, h) for h in holds
              if h.lifted_at is None}
    names = display_names(uow, [i for h in holds for i in (h.placed_by, h.lifted_by)]
                          + [h.scope_id for h in holds if h.scope == "account"])
    return page(request, "officer/holds.html", status=status, holds=holds, covers=covers,
                names=names, scopes=SCOPES, scope_text=_scope_text, show_all=show_all,
                errors=errors, values=values, lift_id=lift_id,
                lift_errors=lift_errors or FormErrors())


@router.get("/officer/holds")
def holds(request: Request, uow: UowDep, me: OfficerAccount,
          all: Annotated[str, Query(max_length=8)] = "") -> Response:
    return _holds_page(request, uow, me, show_all=all == "1", errors=FormErrors(), values={})


@router.post("/officer/holds")
def place_hold(request: Request, uow: UowDep, me: OfficerAccount, _csrf: Csrf,
               scope: Annotated[str, Form()] = "", scope_id: Annotated[str, Form()] = "",
               reason: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    values = {"scope": scope[:16], "scope_id": scope_id[:20], "reason": reason[:MAX_REASON]}
    errors = FormErrors()
    if scope not in SCOPES:
        errors.add("scope", _("Choose what to hold."))
    target = parse_positive(scope_id, maximum=MAX_ID)
    if target is None:
        errors.add("scope_id", _("Enter the number of the case, group or account."))
    errors.require("reason", reason, MAX_REASON, _("Say why the content must be kept."),
                   _("This is too long."))
    if not errors:
        assert target is not None
        result = attempt(uow, lambda: governance_actions.do_place_hold(
            uow, acting=me, scope=HoldScope(scope), scope_id=target, reason=reason))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/holds?placed={result.id}")
        if result.code == "not_found":
            errors = FormErrors(code=result.code)
            errors.add("scope_id", _(NO_SUCH[scope]))
        elif result.code == "invalid_request":
            errors = FormErrors(code=result.code)
            errors.add("reason", _("Say why the content must be kept."))
        else:
            errors = officer_explain(result, _)
    return _holds_page(request, uow, me, show_all=False, errors=errors, values=values,
                       status=422)


@router.post("/officer/holds/{hold_id}/lift")
def lift_hold(request: Request, hold_id: IdPath, uow: UowDep, me: OfficerAccount,
              _csrf: Csrf, reason: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    governance_queries.access_hold(uow, viewer=me, hold_id=hold_id)  # not_found: a page
    errors = FormErrors()
    errors.require("reason", reason, MAX_REASON, _("Say why the hold may end."),
                   _("This is too long."))
    if not errors:
        result = attempt(uow, lambda: governance_actions.do_lift_hold(
            uow, acting=me, hold_id=hold_id, reason=reason))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/holds?lifted={hold_id}")
        if result.code == "invalid_request":
            errors = FormErrors(code=result.code)
            errors.add("reason", _("Say why the hold may end."))
        else:
            errors = officer_explain(result, _)
    return _holds_page(request, uow, me, show_all=True, errors=FormErrors(),
                       values={"lift-reason": reason[:MAX_REASON]}, lift_id=hold_id,
                       lift_errors=errors, status=422)


@router.get("/officer/retention")
def retention(request: Request, uow: UowDep, me: OfficerAccount) -> Response:
    report: dict[str, Any] = governance_queries.retention_report(uow, viewer=me)
    names = display_names(uow, [h["placed_by"] for h in report["holds"]]
                          + [h["scope_id"] for h in report["holds"] if h["scope"] == "account"])
    return page(request, "officer/retention.html", report=report, kinds=KINDS, names=names,
                scope_text=_scope_text)
