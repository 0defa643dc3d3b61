"""Group admin pages (founder and admins): approve joins, remove or mute members, pin rules,
see the reports about the group. Every check is the groups capability's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from qunguan.enforcement import reports as enforcement_reports
from qunguan.groups import Role
from qunguan.groups import actions as group_actions
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.messaging import actions as messaging_actions
from qunguan.messaging import queries as messaging_queries
from qunguan.web.chat import parse_ids, with_withdrawals
from qunguan.web.forms import FormErrors, attempt, explain
from qunguan.web.i18n import N_, gettext_for
from qunguan.web.me import REPORT_OUTCOMES, REPORT_REASONS
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, WebAccount, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Text = Annotated[str, Form()]
T = TypeVar("T")
MUTE_CHOICES = {"3600": 3600, "86400": 86400, "604800": 604800}
MAX_RULES = 5000


def _admin_page(request: Request, uow: UnitOfWork, me: Account, group_id: int, *,
                errors: FormErrors | None = None, failed: str | None = None,
                values: dict[str, str] | None = None, status: int = 200,
                invited: str | None = None) -> Response:
    group, mine = group_queries.require_manager(uow, viewer=me, group_id=group_id)
    # The number only: the page must not turn into a lookup of any account's name.
    number = parse_ids([invited]) if invited else None
    invitee = number[0] if number else None
    members = group_queries.members(uow, viewer=me, group_id=group_id)
    pending = group_queries.join_requests(uow, viewer=me, group_id=group_id)
    accounts = identity_queries.accounts_by_ids(
        uow, [m.account_id for m in members] + [r.account_id for r in pending])
    return page(request, "admin/group.html", status=status, group=group, mine=mine,
                members=[{"m": m, "a": accounts[m.account_id]} for m in members],
                pending=[{"r": r, "a": accounts[r.account_id]} for r in pending],
                reports=enforcement_reports.group_reports(uow, viewer=me, group_id=group_id),
                reasons=REPORT_REASONS, outcomes=REPORT_OUTCOMES,
                heirs=[(str(m.account_id), accounts[m.account_id].display_name) for m in members
                       if m.account_id != me.id and accounts[m.account_id].is_verified],
                errors=errors or FormErrors(), failed=failed, now=uow.now(), invitee=invitee,
                values={"rules": group.rules_text, **(values or {})})


@router.get("/groups/{group_id}/admin")
def admin(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount,
          invited: Annotated[str, Query(max_length=20)] = "") -> Response:
    return _admin_page(request, uow, me, group_id, invited=invited or None)


def _act(request: Request, uow: UnitOfWork, me: Account, group_id: int, failed: str,
         work: Callable[[], object]) -> Response:
    _ = gettext_for(language(request))
    result = attempt(uow, work)
    if not isinstance(result, QunguanError):
        return redirect(f"/groups/{group_id}/admin#{failed}")
    return _admin_page(request, uow, me, group_id, errors=explain(result, _), failed=failed,
                       status=422)


@router.post("/groups/{group_id}/invitations")
def invite(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount, _csrf: Csrf,
           account_id: Text = "") -> Response:
    """Invite by account number (each member finds theirs on the profile page): display
    names are not unique, and an invitation must reach the person meant."""
    _ = gettext_for(language(request))
    errors = FormErrors()
    number = parse_ids([account_id]) if account_id.strip() else None
    if not number:
        errors.add("account_id", _("Enter the account number of the person to invite."))
    else:
        result = attempt(uow, lambda: group_actions.do_invite(
            uow, acting=me, group_id=group_id, account_id=number[0]))
        if not isinstance(result, QunguanError):
            return redirect(f"/groups/{group_id}/admin?invited={result.invitee_id}#invite")
        if result.code == "not_found":
            group_queries.require_manager(uow, viewer=me, group_id=group_id)
            errors.add("account_id", _("No account has this number."))
        elif result.code == "already_member":
            errors.add("account_id", _("This account is already a member of the group."))
        else:
            errors = explain(result, _)
    return _admin_page(request, uow, me, group_id, errors=errors, failed="invite", status=422,
                       values={"account_id": account_id[:20]})


@router.post("/groups/{group_id}/join-requests/{request_id}")
def decide_join(request: Request, group_id: IdPath, request_id: IdPath, uow: UowDep,
                me: WebAccount, _csrf: Csrf, decision: Text = "") -> Response:
    return _act(request, uow, me, group_id, "joins", lambda: group_actions.do_decide_join(
        uow, acting=me, group_id=group_id, request_id=request_id, approve=decision == "approve"))


@router.post("/groups/{group_id}/members/{account_id}/remove")
def remove(request: Request, group_id: IdPath, account_id: IdPath, uow: UowDep,
           me: WebAccount, _csrf: Csrf, reason: Text = "") -> Response:
    return _act(request, uow, me, group_id, "members", lambda: group_actions.do_remove_member(
        uow, acting=me, group_id=group_id, account_id=account_id, reason=reason[:500] or None))


def _choose(request: Request, uow: UnitOfWork, me: Account, group_id: int, value: str,
            choices: dict[str, T], missing: str, work: Callable[[T], object]) -> Response:
    """A member-row form whose one field is a choice: a value not offered is refused above
    the members' table (``missing``, an msgid), a chosen one goes to ``work``."""
    if value not in choices:
        _ = gettext_for(language(request))
        errors = FormErrors()
        errors.add(None, _(missing))
        return _admin_page(request, uow, me, group_id, errors=errors, failed="members",
                           status=422)
    return _act(request, uow, me, group_id, "members", lambda: work(choices[value]))


@router.post("/groups/{group_id}/members/{account_id}/mute")
def mute(request: Request, group_id: IdPath, account_id: IdPath, uow: UowDep,
         me: WebAccount, _csrf: Csrf, seconds: Text = "") -> Response:
    return _choose(request, uow, me, group_id, seconds, MUTE_CHOICES, N_("Choose how long."),
                   lambda chosen: group_actions.do_mute(
                       uow, acting=me, group_id=group_id, account_id=account_id,
                       seconds=chosen, reason=None))


@router.post("/groups/{group_id}/members/{account_id}/unmute")
def unmute(request: Request, group_id: IdPath, account_id: IdPath, uow: UowDep,
           me: WebAccount, _csrf: Csrf) -> Response:
    return _act(request, uow, me, group_id, "members", lambda: group_actions.do_unmute(
        uow, acting=me, group_id=group_id, account_id=account_id))


@router.post("/groups/{group_id}/rules")
def pin_rules(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount, _csrf: Csrf,
              rules: Text = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    errors.require("rules", rules, MAX_RULES, _("Write the rules."), _("This is too long."))
    if not errors:
        result = attempt(uow, lambda: group_actions.do_pin_rules(
            uow, acting=me, group_id=group_id, text=rules))
        if not isinstance(result, QunguanError):
            return redirect(f"/groups/{group_id}/admin#rules")
        errors = explain(result, _)
    return _admin_page(request, uow, me, group_id, errors=errors, failed="rules", status=422,
                       values={"rules": rules[:MAX_RULES]})


# --- deleting a member's message ------------------------------------------------------------

MAX_REASON = 500


def _delete_page(request: Request, uow: UnitOfWork, me: Account, message_id: int, *,
                 errors: FormErrors, values: dict[str, str], status: int = 200) -> Response:
    message = messaging_queries.access_message(uow, viewer=me, message_id=message_id)
    group, _ = group_queries.require_manager(uow, viewer=me, group_id=message.group_id)
    view = with_withdrawals(uow, messaging_queries.render(uow, [message]))[0]
    return page(request, "admin/delete_message.html", status=status, m=view, by_id={},
                group=group, errors=errors, values=values)


@router.get("/messages/{message_id}/delete")
def delete_form(request: Request, message_id: IdPath, uow: UowDep, me: WebAccount) -> Response:
    return _delete_page(request, uow, me, message_id, errors=FormErrors(), values={})


@router.post("/messages/{message_id}/delete")
def delete_message(request: Request, message_id: IdPath, uow: UowDep, me: WebAccount,
                   _csrf: Csrf, reason: Text = "") -> Response:
    """GA-7: a founder or admin removes a member's message; the reason, if given, goes into
    the audit record with the text (members see who removed it, not the reason)."""
    _ = gettext_for(language(request))
    errors = FormErrors()
    if len(reason) > MAX_REASON:
        errors.add("reason", _("This is too long."))
    else:
        result = attempt(uow, lambda: messaging_actions.do_delete_message(
            uow, acting=me, message_id=message_id, reason=reason.strip() or None))
        if not isinstance(result, QunguanError):
            return redirect(f"/groups/{result.group_id}#m-{result.id}")
        if result.code == "not_found":
            raise result
        errors = explain(result, _)
        if result.code == "forbidden":
            errors = FormErrors(code=result.code)
            errors.add(None, _("You can delete only the messages of members below your role."))
    return _delete_page(request, uow, me, message_id, errors=errors, status=422,
                        values={"reason": reason[:MAX_REASON]})


# --- roles and the founder's hand-over (founder only) ----------------------------------------

ROLE_CHOICES = {"admin": Role.ADMIN, "member": Role.MEMBER}


@router.post("/groups/{group_id}/members/{account_id}/role")
def set_role(request: Request, group_id: IdPath, account_id: IdPath, uow: UowDep,
             me: WebAccount, _csrf: Csrf, role: Text = "") -> Response:
    return _choose(request, uow, me, group_id, role, ROLE_CHOICES, N_("Choose a role."),
                   lambda chosen: group_actions.do_set_role(
                       uow, acting=me, group_id=group_id, account_id=account_id, role=chosen))


@router.post("/groups/{group_id}/transfer")
def transfer(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount, _csrf: Csrf,
             account_id: Text = "", confirm: Text = "") -> Response:
    """Hand the group to another member (GA-5): they must be verified and free to found it;
    the founder becomes an admin."""
    _ = gettext_for(language(request))
    errors = FormErrors()
    heir = parse_ids([account_id]) if account_id.strip() else None
    if not heir:
        errors.add("account_id", _("Choose the member who takes over."))
    if confirm != "1":
        errors.add("confirm", _("Confirm that you hand the group over."))
    if not errors and heir:
        result = attempt(uow, lambda: group_actions.do_transfer_founder(
            uow, acting=me, group_id=group_id, account_id=heir[0]))
        if not isinstance(result, QunguanError):
            return redirect(f"/groups/{group_id}/info")
        if result.code in ("forbidden", "not_found"):  # not the founder: the error page
            raise result
        errors = explain(result, _)
        if result.code in HEIR_REFUSALS:
            errors = FormErrors(code=result.code)
            errors.add("account_id", _(HEIR_REFUSALS[result.code]))
    return _admin_page(request, uow, me, group_id, errors=errors, failed="transfer",
                       status=422, values={"heir": account_id[:20]})


HEIR_REFUSALS = {
    "real_name_required": N_("This member has not verified their identity: a founder must."),
    "not_member": N_("This account is not a member of the group."),
    "restricted": N_("A sanction bars this member from founding groups."),
    "credit_too_low": N_("This member's credit is too low to found a group this large."),
}
