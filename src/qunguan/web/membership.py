"""Member pages of belonging to groups: found a group, my invitations (read the rules,
acknowledge, accept), leave a group. The checks are the groups capability's own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from qunguan.groups import Category, JoinPolicy
from qunguan.groups import actions as group_actions
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.web.chat import CATEGORY_NAMES, group_info_page, parse_ids
from qunguan.web.forms import FormErrors, attempt, explain
from qunguan.web.i18n import N_, gettext_for
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, WebAccount, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Text = Annotated[str, Form()]
MAX_NAME = 64
MAX_RULES = 5000
TIERS = {"1": N_("Ordinary"), "2": N_("Important"), "3": N_("Key")}
JOIN_POLICIES = {JoinPolicy.APPROVAL.value: N_("Anyone with the code may ask; an admin approves"),
                 JoinPolicy.INVITE_ONLY.value: N_("By invitation only")}


# --- founding a group -----------------------------------------------------------------------


def _new_page(request: Request, uow: UnitOfWork, *, errors: FormErrors,
              values: dict[str, str], status: int = 200) -> Response:
    return page(request, "member/new_group.html", status=status, errors=errors,
                values=values, categories=CATEGORY_NAMES, tiers=TIERS,
                join_policies=JOIN_POLICIES, max_members=uow.settings.max_group_members)


@router.get("/groups/new")
def new_group_form(request: Request, uow: UowDep, me: WebAccount) -> Response:
    return _new_page(request, uow, errors=FormErrors(),
                     values={"category": "", "tier": "1",
                             "join_policy": JoinPolicy.APPROVAL.value})


@router.post("/groups/new")
def new_group(request: Request, uow: UowDep, me: WebAccount, _csrf: Csrf, name: Text = "",
              category: Text = "", tier: Text = "1", join_policy: Text = "approval",
              rules_text: Text = "", member_cap: Text = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    errors.require("name", name, MAX_NAME, _("Name the group."),
                   _("Use at most %(n)s characters.") % {"n": MAX_NAME})
    if category not in CATEGORY_NAMES:
        errors.add("category", _("Choose a category."))
    if tier not in TIERS:
        errors.add("tier", _("Choose a tier."))
    if join_policy not in JOIN_POLICIES:
        errors.add("join_policy", _("Choose how members join."))
    if len(rules_text) > MAX_RULES:
        errors.add("rules_text", _("This is too long."))
    cap: int | None = None
    if member_cap.strip():
        parsed = parse_ids([member_cap])
        limit = uow.settings.max_group_members
        if not parsed or not 2 <= parsed[0] <= limit:
            errors.add("member_cap", _("Enter a number from 2 to %(max)s, or leave it empty.")
                       % {"max": limit})
        else:
            cap = parsed[0]
    values = {"name": name[:MAX_NAME * 4], "category": category[:32], "tier": tier[:2],
              "join_policy": join_policy[:16], "rules_text": rules_text[:MAX_RULES],
              "member_cap": member_cap[:12]}
    if not errors:
        result = attempt(uow, lambda: group_actions.do_create_group(
            uow, acting=me, name=name, category=Category(category), tier=int(tier),
            join_policy=JoinPolicy(join_policy), rules_text=rules_text, member_cap=cap))
        if not isinstance(result, QunguanError):
            return redirect(f"/groups/{result.id}/info")
        errors = explain(result, _)
    return _new_page(request, uow, errors=errors, values=values, status=422)


# --- invitations ----------------------------------------------------------------------------


def _invitations_page(request: Request, uow: UnitOfWork, me: Account, *,
                      errors: FormErrors | None = None, failed: int | None = None,
                      status: int = 200) -> Response:
    rows = group_queries.my_invitations_with_groups(uow, me)
    inviters = identity_queries.accounts_by_ids(uow, [i.inviter_id for i, _ in rows])
    return page(request, "member/invitations.html", status=status,
                invitations=[{"invitation": i, "group": g,
                              "inviter": inviters[i.inviter_id].display_name,
                              "category": CATEGORY_NAMES.get(g.category, g.category)}
                             for i, g in rows],
                errors=errors or FormErrors(), failed=failed)


@router.get("/me/invitations")
def my_invitations(request: Request, uow: UowDep, me: WebAccount) -> Response:
    return _invitations_page(request, uow, me)


@router.post("/me/invitations/{invitation_id}/accept")
def accept_invitation(request: Request, invitation_id: IdPath, uow: UowDep, me: WebAccount,
                      _csrf: Csrf, rules_version: Text = "") -> Response:
    _ = gettext_for(language(request))
    version = parse_ids([rules_version])
    if not version:
        errors = FormErrors()
        errors.add("rules_version", _("Read and acknowledge the group rules."))
    else:
        result = attempt(uow, lambda: group_actions.do_accept_invitation(
            uow, acting=me, invitation_id=invitation_id, rules_version=version[0]))
        if not isinstance(result, QunguanError):
            return redirect(f"/groups/{result.group_id}")
        if result.code == "not_found":  # not an invitation of the viewer's: the 404 page
            raise result
        errors = explain(result, _)
    return _invitations_page(request, uow, me, errors=errors, failed=invitation_id,
                             status=422)


# --- leaving --------------------------------------------------------------------------------


@router.post("/groups/{group_id}/leave")
def leave(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount,
          _csrf: Csrf) -> Response:
    _ = gettext_for(language(request))
    result = attempt(uow, lambda: group_actions.do_leave(uow, acting=me, group_id=group_id))
    if not isinstance(result, QunguanError):
        return redirect("/groups?left=1")
    if result.code != "founder_cannot_leave":
        raise result
    return group_info_page(request, uow, me, group_id, errors=explain(result, _),
                           status=422)
