"""Policy packs: the active pack's rules and lexicons, its versions, shadow rules' hits, and
an edit of one file that can be checked (nothing changes) or loaded as the next version,
over screening.actions and screening.queries as the API and `qunguan policy` use them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import UowDep
from qunguan.screening import actions as screening_actions
from qunguan.screening import queries as screening_queries
from qunguan.web.forms import FormErrors, attempt
from qunguan.web.i18n import OFFICER, gettext_for
from qunguan.web.officer.common import OfficerAccount, officer_explain
from qunguan.web.officer.problems import pack_problem
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MAX_FILE_CHARS = 2_000_000
FILE_NAME = re.compile(r"(pack\.toml|rules/[\w.-]{1,80}\.toml|lexicons/[\w.-]{1,80}\.txt)")
SHADOW_HITS = 50


def _context(uow: UnitOfWork, me: Account, chosen: str) -> dict[str, Any]:
    files = screening_queries.active_pack_files(uow, viewer=me)
    hits, _next = screening_queries.list_hits(uow, viewer=me, mode="shadow", limit=SHADOW_HITS)
    return {"policy": screening_queries.active_policy(uow, viewer=me),
            "pack_problem": pack_problem,
            "versions": screening_queries.policy_versions(uow, viewer=me),
            "shadow_hits": hits, "file_names": sorted(files),
            "chosen": chosen if chosen in files else "",
            "content": files.get(chosen, "")}


@router.get("/officer/policy")
def policy_page(request: Request, uow: UowDep, me: OfficerAccount,
                file: Annotated[str, Query(max_length=200)] = "") -> Response:
    context = _context(uow, me, file)
    return page(request, "officer/policy.html", errors=FormErrors(), checked=False,
                values={"name": context["chosen"], "content": context["content"]}, **context)


@router.post("/officer/policy")
def check_or_load(request: Request, uow: UowDep, me: OfficerAccount, _csrf: Csrf,
                  name: Annotated[str, Form()] = "", content: Annotated[str, Form()] = "",
                  action: Annotated[str, Form()] = "check") -> Response:
    """One form, two buttons: check validates the active pack with this file changed (or
    added); load makes that pack the next version. Empty content removes the file."""
    _ = gettext_for(language(request), OFFICER)
    errors = FormErrors()
    if not FILE_NAME.fullmatch(name):
        errors.add("name", _("Name a file: pack.toml, rules/NAME.toml or lexicons/NAME.txt."))
    if len(content) > MAX_FILE_CHARS:
        errors.add("content", _("This is too long."))
    checked = False
    if not errors:
        files = screening_queries.active_pack_files(uow, viewer=me)
        if content.strip():
            files[name] = content.replace("\r\n", "\n")
        else:
            files.pop(name, None)
        if action == "load":
            result: object = attempt(uow, lambda: screening_actions.do_load_pack(
                uow, files, acting=me))
        else:
            result = attempt(uow, lambda: screening_actions.check_pack(files))
        if isinstance(result, QunguanError):
            errors = officer_explain(result, _)
        elif action == "load":
            return redirect("/officer/policy?loaded=1")
        else:
            checked = True
    context = _context(uow, me, name)
    return page(request, "officer/policy.html", status=422 if errors else 200, errors=errors,
                checked=checked, values={"name": name, "content": content[:MAX_FILE_CHARS]},
                **{k: v for k, v in context.items() if k not in ("chosen", "content")},
                chosen=context["chosen"])
