"""Member pages of groups: the list of my groups and the group chat."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from qunguan.groups import actions as group_actions
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.text import is_storable
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.messaging import actions as messaging_actions
from qunguan.messaging import queries as messaging_queries
from qunguan.web.forms import FormErrors, attempt, explain
from qunguan.web.i18n import N_, gettext_for
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page, unique_reasons
from qunguan.web.session import Csrf, WebAccount, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 50
MAX_TEXT_FIELD = 20_000  # the action's own limit (a setting) answers message_too_long first


def parse_ids(values: list[str]) -> list[int] | None:
    """Ids from form fields; None when one is not a positive integer."""
    ids: list[int] = []
    for value in values:
        if not value.strip():
            continue
        if not value.strip().isdigit() or len(value.strip()) > 18:
            return None
        ids.append(int(value))
    return [i for i in ids if i > 0] if all(i > 0 for i in ids) else None


@router.get("/groups")
def my_groups(request: Request, uow: UowDep, me: WebAccount,
              left: Annotated[str, Query(max_length=1)] = "") -> Response:
    rows = group_queries.my_groups(uow, me)
    unread = messaging_queries.unread_counts(uow, viewer=me, group_ids=[g.id for g, _ in rows])
    return page(request, "member/groups.html", left=left == "1",
                invitations=len(group_queries.my_invitations(uow, me)),
                groups=[{"group": g, "role": m.role, "muted_until": m.muted_until,
                         "unread": unread.get(g.id, 0)} for g, m in rows])


def _members(uow: UnitOfWork, me: Account, group_id: int) -> list[dict[str, Any]]:
    rows = group_queries.members(uow, viewer=me, group_id=group_id)
    accounts = identity_queries.accounts_by_ids(uow, [m.account_id for m in rows])
    return [{"id": m.account_id, "display_name": accounts[m.account_id].display_name,
             "role": m.role, "verified": accounts[m.account_id].is_verified,
             "muted_until": m.muted_until} for m in rows]


def replied_to(uow: UnitOfWork, me: Account, views: list[dict[str, Any]]) -> dict[int, Any]:
    """The messages ``views`` reply to, rendered, by id: those on the page and those before
    it (an older page, or the one message a live update brings)."""
    found = {m["id"]: m for m in views}
    missing = {m["reply_to_id"] for m in views if m["reply_to_id"]} - set(found)
    targets = []
    for message_id in sorted(missing):
        try:
            targets.append(messaging_queries.access_message(uow, viewer=me,
                                                            message_id=message_id))
        except QunguanError:
            continue  # held and not mine: the quote shows only its number
    found.update({m["id"]: m for m in messaging_queries.render(uow, targets)})
    return found


def with_withdrawals(uow: UnitOfWork, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each withdrawn message says how it went and, for a group admin's deletion, who did it
    (the audit record's actor, by display name; an officer's removal names no one)."""
    found = messaging_queries.withdrawals(uow, [m["id"] for m in views if m["recalled"]])
    names = identity_queries.accounts_by_ids(
        uow, [w["by"] for w in found.values() if w["how"] == "deleted"])
    for view in views:
        how = found.get(view["id"])
        if how is not None:
            view["withdrawn"] = {"how": how["how"], "by_name": names[how["by"]].display_name
                                 if how["by"] in names else None}
    return views


def can_delete(mine: Any, sender_role: str) -> bool:
    """A founder deletes anyone's messages but their own kind's; an admin, plain members' and
    former members' (the action decides; this only offers the link)."""
    ranks = {"founder": 3, "admin": 2}
    return ranks.get(mine.role, 1) > 1 and ranks.get(sender_role, 1) < ranks[mine.role]


def chat_context(uow: UnitOfWork, me: Account, group_id: int,
                 before: str | None) -> dict[str, Any]:
    group, mine = group_queries.access_membership(uow, viewer=me, group_id=group_id)
    rows, cursor = messaging_queries.history(uow, viewer=me, group_id=group_id, before=before,
                                             limit=PAGE_SIZE)
    messages = with_withdrawals(uow, list(reversed(messaging_queries.render(uow, rows))))
    by_id = replied_to(uow, me, messages)
    if before is None and rows:
        messaging_actions.do_mark_read(uow, acting=me, group_id=group_id, message_id=rows[0].id)
    return {"group": group, "membership": mine, "messages": messages, "by_id": by_id,
            "next_cursor": cursor, "before": before, "can_delete": can_delete}


@router.get("/groups/{group_id}")
def chat(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount,
         before: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    context = chat_context(uow, me, group_id, before)
    return page(request, "member/chat.html", errors=FormErrors(), values={}, prompt=None,
                members=_members(uow, me, group_id), **context)


@router.get("/groups/{group_id}/messages/{message_id}")
def message_fragment(request: Request, group_id: IdPath, message_id: IdPath, uow: UowDep,
                     me: WebAccount) -> Response:
    """One message, for the live list: the WebSocket says a message arrived, the page fetches
    its HTML here, rendered in the member's language."""
    message = messaging_queries.access_message(uow, viewer=me, message_id=message_id)
    if message.group_id != group_id:
        raise QunguanError("not_found", "No such message.")
    view = with_withdrawals(uow, messaging_queries.render(uow, [message]))[0]
    _, mine = group_queries.access_membership(uow, viewer=me, group_id=group_id)
    messaging_actions.do_mark_read(uow, acting=me, group_id=group_id, message_id=message.id)
    return page(request, "member/_message.html", m=view, by_id=replied_to(uow, me, [view]),
                group_id=group_id, membership=mine, can_delete=can_delete)


@router.post("/groups/{group_id}/messages")
def post_message(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount, _csrf: Csrf,
                 text: Annotated[str, Form()] = "", reply_to_id: Annotated[str, Form()] = "",
                 mentions: Annotated[list[str], Form()] = [],  # noqa: B006
                 confirm: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    reply = parse_ids([reply_to_id])
    mention_ids = parse_ids(mentions)
    if reply is None or mention_ids is None:
        errors.add(None, _("Check the highlighted fields."))
    if len(text) > MAX_TEXT_FIELD:
        errors.add("text", _("This is too long."))
    prompt = None
    if not errors and reply is not None and mention_ids is not None:
        def work() -> None:
            plan = messaging_actions.check_send_message(
                uow, acting=me, group_id=group_id, text=text,
                reply_to_id=reply[0] if reply else None, mentions=mention_ids,
                confirmed=confirm == "1")
            messaging_actions.do_send_message(uow, plan, acting=me)
        result = attempt(uow, work)
        if not isinstance(result, QunguanError):
            return redirect(f"/groups/{group_id}#composer")
        errors = explain(result, _)
        if result.code == "confirmation_required":
            errors = FormErrors()
            prompt = unique_reasons(result.details.get("reasons"))
    context = chat_context(uow, me, group_id, None)
    return page(request, "member/chat.html", status=200 if prompt is not None else 422,
                errors=errors, prompt=prompt, members=_members(uow, me, group_id),
                values={"text": text, "reply_to_id": reply_to_id, "mentions": mentions},
                **context)


# --- forward, recall -------------------------------------------------------------------------


def _forward_page(request: Request, uow: UnitOfWork, me: Account, message_id: int, *,
                  errors: FormErrors, chosen: list[int], prompt: list[Any] | None,
                  status: int = 200) -> Response:
    message = messaging_queries.access_message(uow, viewer=me, message_id=message_id)
    view = messaging_queries.render(uow, [message])[0]
    targets = [g for g, _ in group_queries.my_groups(uow, me) if g.id != message.group_id]
    return page(request, "member/forward.html", status=status, m=view, by_id={},
                targets=targets, chosen=chosen, errors=errors, prompt=prompt,
                max_targets=uow.settings.max_forward_targets)


@router.get("/messages/{message_id}/forward")
def forward_form(request: Request, message_id: IdPath, uow: UowDep, me: WebAccount) -> Response:
    return _forward_page(request, uow, me, message_id, errors=FormErrors(), chosen=[],
                         prompt=None)


@router.post("/messages/{message_id}/forward")
def forward(request: Request, message_id: IdPath, uow: UowDep, me: WebAccount, _csrf: Csrf,
            group_ids: Annotated[list[str], Form()] = [],  # noqa: B006
            confirm: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    targets = parse_ids(group_ids)
    if targets is None:
        errors.add("group_ids", _("Check the highlighted fields."))
    elif not targets:
        errors.add("group_ids", _("Choose at least one group."))
    if errors or targets is None:
        return _forward_page(request, uow, me, message_id, errors=errors, chosen=[],
                             prompt=None, status=422)

    def work() -> int:
        plan = messaging_actions.check_forward(uow, acting=me, message_id=message_id,
                                               group_ids=targets, confirmed=confirm == "1")
        return messaging_actions.do_forward(uow, plan, acting=me)[0].group_id

    result = attempt(uow, work)
    if not isinstance(result, QunguanError):
        return redirect(f"/groups/{result}")
    if result.code == "confirmation_required":
        return _forward_page(request, uow, me, message_id, errors=FormErrors(), chosen=targets,
                             prompt=unique_reasons(result.details.get("reasons")))
    return _forward_page(request, uow, me, message_id, errors=explain(result, _),
                         chosen=targets, prompt=None, status=422)


@router.post("/messages/{message_id}/recall")
def recall(request: Request, message_id: IdPath, uow: UowDep, me: WebAccount,
           _csrf: Csrf) -> Response:
    message = messaging_actions.do_recall(uow, acting=me, message_id=message_id)
    return redirect(f"/groups/{message.group_id}#m-{message.id}")


# --- group info, rules, joining ------------------------------------------------------------


CATEGORY_NAMES = {
    "party_branch": N_("Party branch"),
    "village_committee": N_("Village committee"),
    "government_office": N_("Government office"),
    "work": N_("Work"),
    "social": N_("Social"),
}


def group_info_page(request: Request, uow: UnitOfWork, me: Account, group_id: int, *,
                    errors: FormErrors | None = None, status: int = 200) -> Response:
    group, mine = group_queries.access_membership(uow, viewer=me, group_id=group_id)
    people = _members(uow, me, group_id)
    return page(request, "member/group_info.html", status=status, group=group,
                membership=mine, category=CATEGORY_NAMES.get(group.category, group.category),
                managers=[p for p in people if p["role"] in ("founder", "admin")],
                errors=errors or FormErrors())


@router.get("/groups/{group_id}/info")
def group_info(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount) -> Response:
    return group_info_page(request, uow, me, group_id)


@router.post("/groups/{group_id}/rules/acknowledge")
def acknowledge_rules(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount,
                      _csrf: Csrf, rules_version: Annotated[str, Form()] = "") -> Response:
    version = parse_ids([rules_version])
    group_actions.do_acknowledge_rules(uow, acting=me, group_id=group_id,
                                       rules_version=version[0] if version else None)
    return redirect(f"/groups/{group_id}/info")


@router.get("/join")
def join_lookup(request: Request, uow: UowDep, me: WebAccount,
                code: Annotated[str, Query(max_length=64)] = "") -> Response:
    group = group_queries.group_by_code(uow, code) if code.strip() and is_storable(code) \
        else None
    if group is None:
        raise QunguanError("not_found", "No such group.")
    mine = group_queries.membership(uow, group.id, me.id)
    return page(request, "member/join.html", group=group, member=mine is not None,
                category=CATEGORY_NAMES.get(group.category, group.category),
                errors=FormErrors(), sent=False, values={})


@router.post("/join")
def join(request: Request, uow: UowDep, me: WebAccount, _csrf: Csrf,
         code: Annotated[str, Form()] = "", rules_version: Annotated[str, Form()] = "",
         note: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request))
    if not is_storable(code):
        raise QunguanError("not_found", "No such group.")
    group = group_queries.group_by_code(uow, code[:64])
    errors = FormErrors()
    version = parse_ids([rules_version])
    if not version:
        errors.add("rules_version", _("Read and acknowledge the group rules."))
    if len(note) > 500:
        errors.add("note", _("This is too long."))
    if not errors and version:
        result = attempt(uow, lambda: group_actions.do_request_join(
            uow, acting=me, code=code, note=note or None, rules_version=version[0]))
        if not isinstance(result, QunguanError):
            return page(request, "member/join.html", group=group, member=False, sent=True,
                        category=CATEGORY_NAMES.get(group.category, group.category),
                        errors=FormErrors(), values={})
        errors = explain(result, _)
    return page(request, "member/join.html", status=422, group=group, member=False,
                category=CATEGORY_NAMES.get(group.category, group.category), sent=False,
                errors=errors, values={"note": note[:500]})
