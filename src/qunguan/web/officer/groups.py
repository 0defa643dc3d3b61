"""Groups in the console: every group (as ``GET /api/officer/groups``), and one group's page:
its category and tier, founder and admins, size, open review items and reports, the elections
covering it, the admin actions recorded in it (who did what, GA-8), and a link to its
red-envelope alerts; its red-envelope limits, and the forms that set and clear its own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from qunguan.auditlog import queries as audit_queries
from qunguan.enforcement import ItemStatus, review
from qunguan.enforcement import reports as enforcement_reports
from qunguan.envelopes import actions as envelope_actions
from qunguan.envelopes import queries as envelope_queries
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.money import format_fen
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.web.chat import CATEGORY_NAMES
from qunguan.web.forms import MAX_YUAN_FIELD, FormErrors, attempt, yuan_field
from qunguan.web.i18n import N_, OFFICER, Gettext, gettext_for
from qunguan.web.me import REPORT_OUTCOMES, REPORT_REASONS
from qunguan.web.membership import JOIN_POLICIES, TIERS
from qunguan.web.officer.common import (
    OfficerAccount,
    display_names,
    officer_explain,
    subject_text,
)
from qunguan.web.officer.review import SOURCES
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

ITEMS = 50
REPORTS = 50
ACTIONS = 30
# The admin actions of a group's founder and admins, as their audit records name them.
ADMIN_ACTIONS = {
    EventType.JOIN_APPROVED: N_("approved a request to join"),
    EventType.JOIN_REJECTED: N_("rejected a request to join"),
    EventType.MEMBER_INVITED: N_("invited the account"),
    EventType.MEMBER_REMOVED: N_("removed the member"),
    EventType.MEMBER_MUTED: N_("muted the member"),
    EventType.MEMBER_UNMUTED: N_("unmuted the member"),
    EventType.RULES_PINNED: N_("pinned new rules"),
    EventType.FOUNDER_TRANSFERRED: N_("handed the founder role to"),
    EventType.ROLE_CHANGED: N_("changed the role of"),
    EventType.MESSAGE_DELETED: N_("deleted a message of"),
}
ROLES = {"founder": N_("Founder"), "admin": N_("Admin"), "member": N_("Member")}
# Which limit binds a group's red envelopes (envelopes.queries.LimitSource).
LIMIT_SOURCES = {
    envelope_queries.LimitSource.DEFAULT: N_("the default for every group"),
    envelope_queries.LimitSource.STRICT: N_("the cap of party branch, village committee and "
                                            "government office groups"),
    envelope_queries.LimitSource.CATEGORY: N_("the limit of its category"),
    envelope_queries.LimitSource.GROUP: N_("this group's own limit"),
}
MAX_REASON = 2000  # the API's reason


@router.get("/officer/groups")
def groups(request: Request, uow: UowDep, me: OfficerAccount) -> Response:
    return page(request, "officer/groups.html", groups=group_queries.all_groups(uow, viewer=me),
                categories=CATEGORY_NAMES)


@router.get("/officer/groups/{group_id}")
def group(request: Request, group_id: IdPath, uow: UowDep, me: OfficerAccount) -> Response:
    return _group_page(request, uow, me, group_id)


def _group_page(request: Request, uow: UnitOfWork, me: Account, group_id: int, *,
                failed: str | None = None, errors: FormErrors | None = None,
                values: dict[str, str] | None = None, status: int = 200) -> Response:
    found = group_queries.access_group(uow, viewer=me, group_id=group_id)
    managers = [m for m in group_queries.members(uow, viewer=me, group_id=group_id)
                if m.role in ("founder", "admin")]
    items = review.list_items(uow, viewer=me, status=ItemStatus.OPEN, group_id=group_id,
                              limit=ITEMS)
    reports = enforcement_reports.group_reports(uow, viewer=me, group_id=group_id,
                                                limit=REPORTS)
    records, _ = audit_queries.list_records(uow, viewer=me, group_id=group_id, limit=ACTIONS,
                                            event_types=list(ADMIN_ACTIONS))
    actions: list[dict[str, Any]] = []
    people: list[int | None] = [m.account_id for m in managers]
    for r in records:
        extra = r.extra if isinstance(r.extra, dict) else {}
        subject = int(r.subject_id) if r.subject_type == "account" and r.subject_id \
            and r.subject_id.isdigit() else None
        # A deleted message's author (the record's subject is the message).
        sender = extra.get("sender_id") if isinstance(extra.get("sender_id"), int) else None
        actions.append({"id": r.id, "at": r.occurred_at, "acting_id": r.acting_id,
                        "what": ADMIN_ACTIONS[EventType(r.event_type)],
                        "whom": subject or sender, "new_role": extra.get("new"),
                        "reason": extra.get("reason")})
        people += [r.acting_id, subject or sender]
    names = display_names(uow, people)
    elections = [group_queries.render_election(uow, e)
                 for e in group_queries.elections_covering(uow, found)]
    limits = envelope_queries.envelope_limits(uow, found)
    if limits.override is not None:
        names.update(display_names(uow, [limits.override.set_by]))
    return page(request, "officer/group.html", status=status, group=found,
                limits=limits, limit_sources=LIMIT_SOURCES, failed=failed,
                errors=errors or FormErrors(), values=values or {},
                category=CATEGORY_NAMES.get(found.category, found.category),
                tier=TIERS.get(str(found.tier), str(found.tier)),
                join_policy=JOIN_POLICIES.get(found.join_policy, found.join_policy),
                managers=managers, roles=ROLES, items=items, sources=SOURCES,
                reports=reports, reasons=REPORT_REASONS, outcomes=REPORT_OUTCOMES,
                actions=actions, names=names, elections=elections,
                subject_text=subject_text, now=uow.now())


@router.post("/officer/groups/{group_id}/envelope-limit")
def set_envelope_limit(request: Request, group_id: IdPath, uow: UowDep, me: OfficerAccount,
                       _csrf: Csrf, max_yuan: Annotated[str, Form()] = "",
                       reason: Annotated[str, Form()] = "") -> Response:
    """Set (or replace) the group's own per-envelope limit, typed in yuan, with a reason."""
    _ = gettext_for(language(request), OFFICER)
    group_queries.access_group(uow, viewer=me, group_id=group_id)  # not_found: a page
    errors = FormErrors()
    fen = yuan_field(errors, "max_yuan", max_yuan,
                     _("Enter an amount in yuan, such as 50 or 8.88."))
    errors.require("reason", reason, MAX_REASON, _("Say why this group needs its own limit."),
                   _("This is too long."))
    if not errors:
        assert fen is not None
        amount = fen
        result = attempt(uow, lambda: envelope_actions.do_set_envelope_limit(
            uow, acting=me, group_id=group_id, max_fen=amount, reason=reason))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/groups/{group_id}?limit=set#limits")
        errors = _limit_errors(result, _)
    return _group_page(request, uow, me, group_id, failed="set", errors=errors, status=422,
                       values={"max_yuan": max_yuan[:MAX_YUAN_FIELD],
                               "reason": reason[:MAX_REASON]})


@router.post("/officer/groups/{group_id}/envelope-limit/clear")
def clear_envelope_limit(request: Request, group_id: IdPath, uow: UowDep, me: OfficerAccount,
                         _csrf: Csrf, reason: Annotated[str, Form()] = "") -> Response:
    """Clear the group's own limit, with a reason: its category's or the default applies."""
    _ = gettext_for(language(request), OFFICER)
    group_queries.access_group(uow, viewer=me, group_id=group_id)
    errors = FormErrors()
    errors.require("reason", reason, MAX_REASON, _("Say why the group's own limit may end."),
                   _("This is too long."))
    if not errors:
        result = attempt(uow, lambda: envelope_actions.do_clear_envelope_limit(
            uow, acting=me, group_id=group_id, reason=reason))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/groups/{group_id}?limit=cleared#limits")
        errors = _limit_errors(result, _)
    return _group_page(request, uow, me, group_id, failed="clear", errors=errors, status=422,
                       values={"clear-reason": reason[:MAX_REASON]})


def _limit_errors(exc: QunguanError, _: Gettext) -> FormErrors:
    """The limit actions' refusals, next to the field they concern."""
    errors = FormErrors(code=exc.code, details=dict(exc.details))
    if exc.code == "envelope_limit_invalid":
        ceiling = exc.details.get("ceiling_fen")
        errors.add("max_yuan", _("A group's own limit may only be stricter: at most %(max)s "
                                 "yuan here.", max=format_fen(int(ceiling)))
                   if isinstance(ceiling, int) else _("This limit is not allowed here."))
    elif exc.code == "invalid_request":
        errors.add("reason", _("Give a reason."))
    elif exc.code == "envelope_limit_not_set":
        errors.add(None, _("This group has no limit of its own to clear."))
    else:
        return officer_explain(exc, _)
    return errors
