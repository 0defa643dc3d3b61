"""Member pages of governance: my sanctions with their statements of reasons and an appeal
form, reporting a message, my reports and their outcomes, the corrections I was sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from qunguan.enforcement import ReportReason, SubjectType
from qunguan.enforcement import appeals as enforcement_appeals
from qunguan.enforcement import queries as enforcement_queries
from qunguan.enforcement import reports as enforcement_reports
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.messaging import queries as messaging_queries
from qunguan.rumors import queries as rumors_queries
from qunguan.web.forms import FormErrors, attempt, explain
from qunguan.web.i18n import N_, gettext_for
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, WebAccount, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MAX_APPEAL = 4000
MAX_NOTE = 2000

SANCTION_KINDS = {
    "warning": N_("Warning"), "restrict": N_("Some functions restricted"),
    "mute": N_("Muted in a group"), "suspend": N_("Suspended"),
    "blacklist": N_("Blacklisted"), "group_warning": N_("Group warning"),
    "suspend_posting": N_("Group posting suspended"), "close": N_("Group closed"),
}
# A statement's measure: a sanction's kind, or what happened to a message.
MEASURES = {**SANCTION_KINDS, "message_removed": N_("Message removed"),
            "message_held": N_("Message held for review")}
APPEAL_STATUS = {"open": N_("Appeal waiting for a decision"),
                 "upheld": N_("Appeal decided: the decision stands"),
                 "overturned": N_("Appeal decided: the decision was reversed")}
REPORT_REASONS = {
    "rumor": N_("False or unverified information"),
    "personal_data": N_("Someone's personal data (ID, phone, bank card)"),
    "confidential": N_("Confidential or internal material"),
    "fraud": N_("Scam, fraud or gambling"),
    "harassment": N_("Abuse, threats or insults"),
    "vote_buying": N_("Red envelopes or gifts tied to an election"),
    "spam": N_("Flooding or advertising"),
    "impersonation": N_("Impersonation"),
    "other": N_("Something else"),
}
REPORT_OUTCOMES = {"upheld": N_("Upheld: action was taken"),
                   "not_upheld": N_("Not upheld: no rule was broken")}


def _sanctions_page(request: Request, uow: UnitOfWork, me: Account, *, errors: FormErrors,
                    appeal_for: int | None = None, text: str = "",
                    status: int = 200) -> Response:
    return page(request, "member/sanctions.html", status=status,
                sanctions=enforcement_queries.my_sanctions(uow, viewer=me),
                statements=enforcement_queries.my_statements(uow, viewer=me),
                credit=enforcement_queries.my_credit(uow, viewer=me),
                kinds=SANCTION_KINDS, measures=MEASURES, appeal_status=APPEAL_STATUS,
                errors=errors, appeal_for=appeal_for, values={"text": text}, now=uow.now())


@router.get("/me/sanctions")
def my_sanctions(request: Request, uow: UowDep, me: WebAccount) -> Response:
    return _sanctions_page(request, uow, me, errors=FormErrors())


@router.post("/me/statements/{statement_id}/appeal")
def appeal(request: Request, statement_id: IdPath, uow: UowDep, me: WebAccount, _csrf: Csrf,
           text: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    errors.require("text", text, MAX_APPEAL, _("Say why the decision is wrong."),
                   _("This is too long."))
    if not errors:
        result = attempt(uow, lambda: enforcement_appeals.do_file_appeal(
            uow, acting=me, statement_id=statement_id, text=text))
        if not isinstance(result, QunguanError):
            return redirect(f"/me/sanctions#statement-{statement_id}")
        if result.code == "not_found":  # not one of mine: no form of mine to show it on
            raise result
        errors = explain(result, _)
    return _sanctions_page(request, uow, me, errors=errors, appeal_for=statement_id,
                           text=text[:MAX_APPEAL], status=422)


@router.get("/me/reports")
def my_reports(request: Request, uow: UowDep, me: WebAccount) -> Response:
    rows = enforcement_reports.my_reports(uow, me)
    return page(request, "member/reports.html", reports=rows, reasons=REPORT_REASONS,
                outcomes=REPORT_OUTCOMES)


def _report_page(request: Request, uow: UnitOfWork, me: Account, message_id: int, *,
                 errors: FormErrors, values: dict[str, str], status: int = 200) -> Response:
    message = messaging_queries.access_message(uow, viewer=me, message_id=message_id)
    view = messaging_queries.render(uow, [message])[0]
    return page(request, "member/report.html", status=status, m=view, by_id={},
                reasons=REPORT_REASONS, errors=errors, values=values)


@router.get("/messages/{message_id}/report")
def report_form(request: Request, message_id: IdPath, uow: UowDep, me: WebAccount) -> Response:
    return _report_page(request, uow, me, message_id, errors=FormErrors(), values={})


@router.post("/messages/{message_id}/report")
def report(request: Request, message_id: IdPath, uow: UowDep, me: WebAccount, _csrf: Csrf,
           reason: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
           good_faith: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    if reason not in REPORT_REASONS:
        errors.add("reason", _("Choose a reason."))
    if len(note) > MAX_NOTE:
        errors.add("note", _("This is too long."))
    if good_faith != "1":
        errors.add("good_faith", _("Reports are made in good faith: confirm it."))
    if not errors:
        result = attempt(uow, lambda: enforcement_reports.do_file_report(
            uow, acting=me, subject_type=SubjectType.MESSAGE, subject_id=message_id,
            reason=ReportReason(reason), note=note or None, good_faith=True))
        if not isinstance(result, QunguanError):
            return redirect("/me/reports")
        errors = explain(result, _)
    return _report_page(request, uow, me, message_id, errors=errors, status=422,
                        values={"reason": reason, "note": note[:MAX_NOTE]})


@router.get("/me/corrections")
def my_corrections(request: Request, uow: UowDep, me: WebAccount) -> Response:
    rows, total = rumors_queries.my_corrections(uow, viewer=me)
    return page(request, "member/corrections.html", corrections=rows, total=total)
