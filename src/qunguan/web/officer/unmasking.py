"""Dual-control unmasking (docs/unmasking.md): the unit's requests, asking with a case and a
reason, approval or rejection by a different officer, and the requester's one read, over
governance.actions and governance.queries as the API.

The read is the console's only page that shows a legal name and an ID number. It goes through
the same action as the API's reveal (``do_reveal_unmasked``: ``vault.reveal`` and its
``VAULT_READ`` record, then ``UNMASK_REVEALED``), answers the POST itself (no redirect, so the
identity never sits behind a URL that could be opened again) and is marked ``no-store``. Lists,
URLs, audit records and logs carry request, case and account ids only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

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
    problem_fields,
)
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MAX_REASON = 2000  # the API's Reason
STATUSES = {"pending": N_("Waiting for a second officer"), "approved": N_("Approved"),
            "rejected": N_("Rejected"), "revealed": N_("Read once")}
BASES = {"account": N_("the account named"),
         "cascade_originator": N_("the first sender of a rumour cascade")}
# The reveal page must not be kept by the browser or any cache on the way (PI-4).
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache",
            "Referrer-Policy": "no-referrer"}


def _view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "account_id": row.account_id, "basis": row.basis,
            "cluster_id": row.cluster_id, "case_id": row.case_id, "reason": row.reason,
            "status": row.status, "requested_by": row.requested_by,
            "requested_at": row.requested_at, "decided_by": row.decided_by,
            "decided_at": row.decided_at, "decision_note": row.decision_note,
            "reveal_until": row.reveal_until, "revealed_at": row.revealed_at}


def _names(uow: UnitOfWork, rows: list[dict[str, Any]]) -> dict[int, str]:
    return display_names(uow, [i for r in rows for i in (r["account_id"], r["requested_by"],
                                                         r["decided_by"])])


def _list_page(request: Request, uow: UnitOfWork, me: Account, *, errors: FormErrors,
               values: dict[str, str], status: int = 200) -> Response:
    rows = [_view(r) for r in governance_queries.list_unmaskings(uow, viewer=me)]
    return page(request, "officer/unmaskings.html", status=status, requests=rows,
                names=_names(uow, rows), statuses=STATUSES, bases=BASES, errors=errors,
                values=values, me_id=me.id)


@router.get("/officer/unmaskings")
def unmaskings(request: Request, uow: UowDep, me: OfficerAccount) -> Response:
    return _list_page(request, uow, me, errors=FormErrors(), values={})


def _request_errors(exc: QunguanError, _: Gettext, target: str) -> FormErrors:
    """An action's refusal next to the field it concerns: the case is checked first (its
    not_found names the scope), then the account or the cluster."""
    errors = FormErrors(code=exc.code, details=dict(exc.details))
    if exc.code == "not_found":
        if exc.details.get("scope") == "case":
            errors.add("case_id", _("No such case: give the number of a review item."))
        elif target == "cluster_id":
            errors.add("cluster_id", _("No such rumour cluster."))
        else:
            errors.add("account_id", _("No such account."))
        return errors
    if exc.code == "no_sealed_identity":
        errors.add(target, _("This account has no verified legal name and ID number to "
                             "unmask (it verified another way, or not yet)."))
        return errors
    if exc.code == "invalid_request":
        names: list[str | None] = [*problem_fields(exc)] or [None]
        for name in names:
            if name == "reason":
                errors.add("reason", _("Say why you need to see the identity."))
            elif name in ("account_id", "cluster_id"):
                errors.add(target, _("Name either an account or a rumour cluster."))
            else:
                errors.add(None, _("Check the highlighted fields."))
        return errors
    return officer_explain(exc, _)


@router.post("/officer/unmaskings")
def request_unmasking(request: Request, uow: UowDep, me: OfficerAccount, _csrf: Csrf,
                      case_id: Annotated[str, Form()] = "",
                      account_id: Annotated[str, Form()] = "",
                      cluster_id: Annotated[str, Form()] = "",
                      reason: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    values = {"case_id": case_id[:20], "account_id": account_id[:20],
              "cluster_id": cluster_id[:20], "reason": reason[:MAX_REASON]}
    errors = FormErrors()
    case = parse_positive(case_id, maximum=MAX_ID)
    if case is None:
        errors.add("case_id", _("Enter the number of the case (a review item)."))
    errors.require("reason", reason, MAX_REASON, _("Say why you need to see the identity."),
                   _("This is too long."))
    account = parse_positive(account_id, maximum=MAX_ID) if account_id.strip() else None
    cluster = parse_positive(cluster_id, maximum=MAX_ID) if cluster_id.strip() else None
    target = "cluster_id" if cluster_id.strip() and not account_id.strip() else "account_id"
    if account_id.strip() and cluster_id.strip():
        errors.add("account_id", _("Name either an account or a rumour cluster, not both."))
    elif not account_id.strip() and not cluster_id.strip():
        errors.add("account_id", _("Name an account, or a rumour cluster whose first sender "
                                   "is to be unmasked."))
    elif account_id.strip() and account is None:
        errors.add("account_id", _("Enter an account number."))
    elif cluster_id.strip() and cluster is None:
        errors.add("cluster_id", _("Enter a cluster number."))
    if not errors:
        assert case is not None
        result = attempt(uow, lambda: governance_actions.do_request_unmasking(
            uow, acting=me, case_id=case, reason=reason, account_id=account,
            cluster_id=cluster))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/unmaskings/{result.id}?requested=1")
        errors = _request_errors(result, _, target)
    return _list_page(request, uow, me, errors=errors, values=values, status=422)


def _detail_page(request: Request, uow: UnitOfWork, me: Account, request_id: int, *,
                 errors: FormErrors, values: dict[str, str], status: int = 200) -> Response:
    row = _view(governance_queries.access_unmasking(uow, viewer=me, request_id=request_id))
    now = uow.now()
    mine = row["requested_by"] == me.id
    readable = mine and row["status"] == "approved" and row["reveal_until"] is not None \
        and now <= row["reveal_until"]
    return page(request, "officer/unmasking.html", status=status, req=row,
                names=_names(uow, [row]), statuses=STATUSES, bases=BASES, mine=mine,
                readable=readable, errors=errors, values=values)


@router.get("/officer/unmaskings/{request_id}")
def unmasking_page(request: Request, request_id: IdPath, uow: UowDep,
                   me: OfficerAccount) -> Response:
    return _detail_page(request, uow, me, request_id, errors=FormErrors(), values={})


@router.post("/officer/unmaskings/{request_id}/approve")
def approve(request: Request, request_id: IdPath, uow: UowDep, me: OfficerAccount,
            _csrf: Csrf, note: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    errors = FormErrors()
    if len(note) > MAX_REASON:
        errors.add("approve-note", _("This is too long."))
    if not errors:
        result = attempt(uow, lambda: governance_actions.do_approve_unmasking(
            uow, acting=me, request_id=request_id, note=note if note.strip() else None))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/unmaskings/{request_id}?decided=1")
        errors = officer_explain(result, _)
    return _detail_page(request, uow, me, request_id, errors=errors,
                        values={"approve-note": note[:MAX_REASON]}, status=422)


@router.post("/officer/unmaskings/{request_id}/reject")
def reject(request: Request, request_id: IdPath, uow: UowDep, me: OfficerAccount,
           _csrf: Csrf, note: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    errors = FormErrors()
    errors.require("reject-note", note, MAX_REASON,
                   _("Say why: the requester reads it."), _("This is too long."))
    if not errors:
        result = attempt(uow, lambda: governance_actions.do_reject_unmasking(
            uow, acting=me, request_id=request_id, note=note))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/unmaskings/{request_id}?decided=1")
        errors = officer_explain(result, _)
        if result.code == "invalid_request":
            errors = FormErrors(code=result.code)
            errors.add("reject-note", _("Say why: the requester reads it."))
    return _detail_page(request, uow, me, request_id, errors=errors,
                        values={"reject-note": note[:MAX_REASON]}, status=422)


@router.post("/officer/unmaskings/{request_id}/reveal")
def reveal(request: Request, request_id: IdPath, uow: UowDep, me: OfficerAccount,
           _csrf: Csrf) -> Response:
    """Vault path: the requester's one read of an approved request (the API's reveal)."""
    result = attempt(uow, lambda: governance_actions.do_reveal_unmasked(
        uow, acting=me, request_id=request_id))
    if isinstance(result, QunguanError):
        if result.code == "not_found":  # anyone but the requester, as the API answers
            raise result
        errors = officer_explain(result, gettext_for(language(request), OFFICER))
        return _detail_page(request, uow, me, request_id, errors=errors, values={}, status=409)
    row, fields = result
    response = page(request, "officer/unmasked.html", req=_view(row),
                    names=_names(uow, [_view(row)]), legal_name=fields.get("legal_name"),
                    id_number=fields.get("id_number"))
    response.headers.update(NO_STORE)
    return response
