"""Election periods (docs/envelopes.md): each with its window, vote day, policy, the groups it
covers and its candidates by display name; declaring one for a group, a category or an
organisational unit, and cancelling one with a reason, over groups.actions
(``do_declare_election``, ``do_cancel_election``) and groups.queries as the API.

Times are typed and shown in UTC, as everywhere in the console."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from qunguan.groups import Category, ElectionPolicy, ElectionScope
from qunguan.groups import actions as group_actions
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.web.chat import CATEGORY_NAMES
from qunguan.web.forms import FormErrors, attempt
from qunguan.web.i18n import N_, OFFICER, Gettext, gettext_for
from qunguan.web.officer.common import (
    OfficerAccount,
    officer_explain,
    parse_positive,
    problem_fields,
)
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MAX_NAME = 200
MAX_ORG_UNIT = 64
MAX_REASON = 500  # the action keeps at most 500 characters of a cancellation's reason
MAX_PEOPLE_FIELD = 6000
SCOPES = {"group": N_("One group"), "category": N_("Every group of a category"),
          "org_unit": N_("Every group of an organisational unit")}
SCOPE_FIELD = {"group": "group_id", "category": "category", "org_unit": "org_unit"}
POLICIES = {"": N_("The institution's default"),
            "block": N_("Block: refuse red envelopes when sent"),
            "hold": N_("Hold: a reviewer releases or refuses each red envelope"),
            "disclose": N_("Disclose: allow, and record them for the election committee")}
ROLES = {"candidate": N_("candidate"), "associate": N_("associate")}
# election_invalid's details.problem -> (field, sentence)
PROBLEMS: dict[str, tuple[str | None, str]] = {
    "name": ("name", N_("Give the election a name (1 to 200 characters).")),
    "dates": ("ends_at", N_("The election ends after it starts.")),
    "vote_at": ("vote_at", N_("The vote falls within the election period.")),
    "too_long": ("ends_at", N_("An election period lasts at most %(max_days)s days.")),
    "org_unit": ("org_unit", N_("Name the organisational unit (1 to 64 characters).")),
    "associate_of": ("associates", N_("Each associate acts for one of the candidates, and a "
                                      "candidate is not also an associate.")),
    "too_many_candidates": ("candidate_ids", N_("At most %(max)s candidates and "
                                                "associates.")),
    "reason": ("reason", N_("Say why the election is cancelled.")),
    "already_cancelled": (None, N_("The election was already cancelled.")),
}
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?")


def _problem(_: Gettext, key: str) -> str:
    sentence = PROBLEMS[key][1]
    return _(sentence)


def _moment(text: str) -> datetime | None:
    """A ``datetime-local`` field's value as a UTC moment; None when it is not one."""
    text = text.strip()
    if not MOMENT.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=UTC)
    except ValueError:
        return None


def _ids(text: str) -> list[int] | None:
    """Account numbers separated by commas, spaces or new lines; None when one is bad."""
    found = []
    for token in re.split(r"[\s,，、]+", text.strip()):
        if token:
            number = parse_positive(token, maximum=MAX_ID)
            if number is None:
                return None
            found.append(number)
    return found


def _pairs(text: str) -> dict[int, int] | None:
    """``associate=candidate`` pairs separated by commas, spaces or new lines."""
    found: dict[int, int] = {}
    for token in re.split(r"[\s,，、]+", text.strip()):
        if not token:
            continue
        left, sep, right = token.replace("＝", "=").partition("=")
        associate, candidate = parse_positive(left, maximum=MAX_ID), \
            parse_positive(right, maximum=MAX_ID)
        if not sep or associate is None or candidate is None:
            return None
        found[associate] = candidate
    return found


def _list_page(request: Request, uow: UnitOfWork, me: Account, *, errors: FormErrors,
               values: dict[str, str], cancel_id: int | None = None,
               cancel_errors: FormErrors | None = None, status: int = 200) -> Response:
    rows = [group_queries.render_election(uow, e)
            for e in group_queries.list_elections(uow, viewer=me)]
    return page(request, "officer/elections.html", status=status, elections=rows,
                scopes=SCOPES, policies=POLICIES, categories=CATEGORY_NAMES, roles=ROLES,
                errors=errors, values=values, cancel_id=cancel_id,
                cancel_errors=cancel_errors or FormErrors())


@router.get("/officer/elections")
def elections(request: Request, uow: UowDep, me: OfficerAccount) -> Response:
    return _list_page(request, uow, me, errors=FormErrors(), values={"policy": ""})


def election_form(name: Annotated[str, Form()] = "", scope: Annotated[str, Form()] = "",
                  group_id: Annotated[str, Form()] = "",
                  category: Annotated[str, Form()] = "",
                  org_unit: Annotated[str, Form()] = "",
                  starts_at: Annotated[str, Form()] = "",
                  ends_at: Annotated[str, Form()] = "",
                  vote_at: Annotated[str, Form()] = "",
                  policy: Annotated[str, Form()] = "",
                  candidate_ids: Annotated[str, Form()] = "",
                  associates: Annotated[str, Form()] = "") -> dict[str, str]:
    """The declaration as typed (kept, cut to a sane length, when the form comes back)."""
    return {"name": name[:MAX_NAME * 2], "scope": scope[:16], "group_id": group_id[:20],
            "category": category[:32], "org_unit": org_unit[:MAX_ORG_UNIT * 2],
            "starts_at": starts_at[:32], "ends_at": ends_at[:32], "vote_at": vote_at[:32],
            "policy": policy[:16], "candidate_ids": candidate_ids[:MAX_PEOPLE_FIELD],
            "associates": associates[:MAX_PEOPLE_FIELD]}


ElectionFields = Annotated[dict[str, str], Depends(election_form)]


def _check(values: dict[str, str], _: Gettext) -> tuple[FormErrors, dict[str, Any]]:
    """Every bad field at once, and the action's arguments when there are none."""
    errors = FormErrors()
    args: dict[str, Any] = {}
    name = values["name"].strip()
    if not 1 <= len(name) <= MAX_NAME:
        errors.add("name", _problem(_, "name"))
    args["name"] = name
    scope = values["scope"]
    if scope not in SCOPES:
        errors.add("scope", _("Choose what the election covers."))
    else:
        args["scope"] = ElectionScope(scope)
        # Only the field the scope needs is passed on; the others are ignored.
        if scope == "group":
            group = parse_positive(values["group_id"], maximum=MAX_ID)
            if group is None:
                errors.add("group_id", _("Enter the group's number."))
            args["group_id"] = group
        elif scope == "category":
            if values["category"] not in CATEGORY_NAMES:
                errors.add("category", _("Choose a category."))
            else:
                args["category"] = Category(values["category"])
        else:
            unit = values["org_unit"].strip()
            if not 1 <= len(unit) <= MAX_ORG_UNIT:
                errors.add("org_unit", _problem(_, "org_unit"))
            args["org_unit"] = unit
    for field in ("starts_at", "ends_at", "vote_at"):
        if field == "vote_at" and not values[field].strip():
            args[field] = None  # the vote is on the last day
            continue
        moment = _moment(values[field])
        if moment is None:
            errors.add(field, _("Enter a date and time."))
        args[field] = moment
    if values["policy"] not in POLICIES:
        errors.add("policy", _("Choose a policy."))
    else:
        args["policy"] = ElectionPolicy(values["policy"]) if values["policy"] else None
    candidates = _ids(values["candidate_ids"])
    if candidates is None:
        errors.add("candidate_ids", _("Write account numbers separated by commas."))
    args["candidate_ids"] = candidates or []
    pairs = _pairs(values["associates"])
    if pairs is None:
        errors.add("associates", _("Write pairs such as 12=7 (the associate's account "
                                   "number, then the candidate's), separated by commas."))
    args["associates"] = pairs or {}
    return errors, args


def _declare_errors(exc: QunguanError, values: dict[str, str], args: dict[str, Any],
                    _: Gettext) -> FormErrors:
    errors = FormErrors(code=exc.code, details=dict(exc.details))
    if exc.code == "not_found":
        errors.add("group_id", _("No such group."))
    elif exc.code == "election_invalid":
        problem = str(exc.details.get("problem", ""))
        if problem == "scope_target":
            errors.add(SCOPE_FIELD.get(values["scope"], "scope"), _("Check this field."))
        elif problem == "unknown_account":
            unknown = set(exc.details.get("account_ids") or [])
            where = "associates" if unknown & set(args["associates"]) else "candidate_ids"
            errors.add(where, _("No account has the number %(ids)s.",
                                ids=", ".join(str(i) for i in sorted(unknown))))
        elif problem in PROBLEMS:
            field, sentence = PROBLEMS[problem]
            details = {k: v for k, v in exc.details.items() if isinstance(v, (int, str))}
            errors.add(field, _(sentence, **details) if details else _(sentence))
        else:
            errors.add(None, _("Check the highlighted fields."))
    elif exc.code == "invalid_request":
        for name in problem_fields(exc):
            errors.add(name if name in values else None, _("Check this field."))
        if not errors:
            errors.add(None, _("Check the highlighted fields."))
    else:
        errors = officer_explain(exc, _)
    return errors


@router.post("/officer/elections")
def declare(request: Request, uow: UowDep, me: OfficerAccount, _csrf: Csrf,
            values: ElectionFields) -> Response:
    _ = gettext_for(language(request), OFFICER)
    errors, args = _check(values, _)
    if not errors:
        result = attempt(uow, lambda: group_actions.do_declare_election(uow, acting=me, **args))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/elections?declared={result.id}#election-{result.id}")
        errors = _declare_errors(result, values, args, _)
    return _list_page(request, uow, me, errors=errors, values=values, status=422)


@router.post("/officer/elections/{election_id}/cancel")
def cancel(request: Request, election_id: IdPath, uow: UowDep, me: OfficerAccount,
           _csrf: Csrf, reason: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    group_queries.access_election(uow, viewer=me, election_id=election_id)  # not_found: a page
    errors = FormErrors()
    errors.require("reason", reason, MAX_REASON, _problem(_, "reason"),
                   _("This is too long."))
    if not errors:
        result = attempt(uow, lambda: group_actions.do_cancel_election(
            uow, acting=me, election_id=election_id, reason=reason))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/elections?cancelled={election_id}#election-{election_id}")
        errors = _declare_errors(result, {"reason": reason}, {"associates": {}}, _)
    return _list_page(request, uow, me, errors=FormErrors(), values={"policy": "",
                      "cancel-reason": reason[:MAX_REASON]}, cancel_id=election_id,
                      cancel_errors=errors, status=422)
