"""The review queue and case pages: claim, release and decide an item (dismiss, remove,
remove and sanction, or label a message with the debunk it repeats, always with a reason),
over the API's actions (enforcement.review)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from qunguan.enforcement import Decision, ItemSource, ItemStatus, SanctionKind, SubjectType, review
from qunguan.enforcement import queries as enforcement_queries
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.restrictions import Function
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.rumors import queries as rumor_queries
from qunguan.web.forms import FormErrors, attempt
from qunguan.web.i18n import N_, OFFICER, gettext_for
from qunguan.web.officer.common import (
    OfficerAccount,
    display_names,
    officer_explain,
    parse_positive,
    subject_text,
)
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MAX_REASON_FIELD = 2000
MAX_HOURS = 24 * 366 * 10
SOURCES = {"held": N_("Held before delivery"), "screening": N_("Flagged after delivery"),
           "report": N_("Reported by members"), "sample": N_("Quality sample")}
DECISIONS = {"dismiss": N_("Dismiss (deliver a held message)"),
             "remove": N_("Remove the message"),
             "sanction": N_("Remove and sanction"),
             "label": N_("Attach the debunk card (the message stays up)")}
# A held red envelope is released (dismiss) or refused (remove: its sender is refunded); an
# account or a group can be dismissed or sanctioned (enforcement.review.do_decide).
ENVELOPE_DECISIONS = {"dismiss": N_("Release the envelope"),
                      "remove": N_("Refuse the envelope (its sender is refunded)")}
DECIDED = {"dismiss": N_("Dismissed"), "remove": N_("Removed"), "sanction": N_("Sanctioned"),
           "label": N_("Labelled with a debunk")}
MEMBER_KINDS = {"warning": N_("Warning"), "restrict": N_("Restrict functions"),
                "mute": N_("Mute in this group"), "suspend": N_("Suspend"),
                "blacklist": N_("Blacklist"), "group_warning": N_("Warn the group"),
                "suspend_posting": N_("Suspend posting in the group"),
                "close": N_("Close the group")}
FUNCTIONS = {"post": N_("Posting"), "forward": N_("Forwarding"),
             "red_envelopes": N_("Red envelopes"), "create_group": N_("Founding groups"),
             "join": N_("Joining groups")}


@router.get("/officer/review")
def queue(request: Request, uow: UowDep, me: OfficerAccount,
          status: Annotated[str, Query(max_length=16)] = "open",
          source: Annotated[str, Query(max_length=16)] = "",
          group_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    chosen_status = ItemStatus(status) if status in set(ItemStatus) else ItemStatus.OPEN
    chosen_source = ItemSource(source) if source in set(ItemSource) else None
    items = review.list_items(uow, viewer=me, status=chosen_status, source=chosen_source,
                              group_id=group_id, limit=review.MAX_PAGE)
    names = display_names(uow, [i.claimed_by for i in items] + [i.decided_by for i in items])
    return page(request, "officer/queue.html", items=items, names=names, sources=SOURCES,
                decided=DECIDED, filter_status=chosen_status.value, group_id=group_id,
                source=chosen_source.value if chosen_source else "", now=uow.now())


def case_context(uow: UnitOfWork, me: Account, item_id: int) -> dict[str, Any]:
    detail = review.item_detail(uow, viewer=me, item_id=item_id)
    item = detail["item"]
    measures = enforcement_queries.case_measures(uow, viewer=me, item_id=item_id)
    names = display_names(uow, [item.claimed_by, item.decided_by]
                   + [s["imposed_by"] for s in measures["sanctions"]]
                   + [a["appeal"].decided_by for a in measures["statements"] if a["appeal"]])
    live = item.claimed_by is not None and item.claim_expires_at is not None \
        and item.claim_expires_at > uow.now()
    message = detail["message"]
    # The debunks the message may repeat, as the bank sees it now: what decision=label offers.
    suggestions = [f.card for f in rumor_queries.suggested_debunks(uow, message["text"] or "")] \
        if message is not None and item.decision is None else []
    if message is not None:
        decisions = DECISIONS
    elif item.subject_type == SubjectType.ENVELOPE:
        decisions = ENVELOPE_DECISIONS
    else:
        decisions = {k: v for k, v in DECISIONS.items() if k in ("dismiss", "sanction")}
    return {"detail": detail, "item": item, "measures": measures, "names": names,
            "claimed_by_me": live and item.claimed_by == me.id,
            "claimed_by_other": live and item.claimed_by != me.id,
            "sources": SOURCES, "decisions": decisions, "decided": DECIDED, "kinds": MEMBER_KINDS,
            "suggestions": suggestions,
            "functions": FUNCTIONS, "subject_text": subject_text,
            # What automation found (a vote-buying pattern's envelopes, amounts, timing), as
            # the detector recorded it on the item.
            "evidence": [(str(r.get("rule")), json.dumps(r["evidence"], ensure_ascii=False,
                                                         indent=2, sort_keys=True, default=str))
                         for r in item.rules if r.get("evidence")]}


@router.get("/officer/review/{item_id}")
def case(request: Request, item_id: IdPath, uow: UowDep, me: OfficerAccount) -> Response:
    return page(request, "officer/case.html", errors=FormErrors(), values={},
                **case_context(uow, me, item_id))


def _case_failed(request: Request, uow: UnitOfWork, me: Account, item_id: int,
                 errors: FormErrors, values: dict[str, Any]) -> Response:
    return page(request, "officer/case.html", status=422, errors=errors, values=values,
                **case_context(uow, me, item_id))


def _claim_change(request: Request, uow: UnitOfWork, me: Account, item_id: int,
                  work: Callable[[], object], then: str) -> Response:
    result = attempt(uow, work)
    if isinstance(result, QunguanError):
        return _case_failed(request, uow, me, item_id,
                            officer_explain(result, gettext_for(language(request), OFFICER)), {})
    return redirect(then)


@router.post("/officer/review/{item_id}/claim")
def claim(request: Request, item_id: IdPath, uow: UowDep, me: OfficerAccount,
          _csrf: Csrf) -> Response:
    return _claim_change(request, uow, me, item_id,
                         lambda: review.do_claim(uow, acting=me, item_id=item_id),
                         f"/officer/review/{item_id}#decide")


@router.post("/officer/review/{item_id}/release")
def release(request: Request, item_id: IdPath, uow: UowDep, me: OfficerAccount,
            _csrf: Csrf) -> Response:
    return _claim_change(request, uow, me, item_id,
                         lambda: review.do_release(uow, acting=me, item_id=item_id),
                         "/officer/review")


@router.post("/officer/review/{item_id}/decide")
def decide(request: Request, item_id: IdPath, uow: UowDep, me: OfficerAccount, _csrf: Csrf,
           decision: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
           kind: Annotated[str, Form()] = "", hours: Annotated[str, Form()] = "",
           functions: Annotated[list[str], Form()] = [],  # noqa: B006
           skip_warning_reason: Annotated[str, Form()] = "",
           debunk_id: Annotated[str, Form()] = "", debunk_other: Annotated[str, Form()] = "",
           learn: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    values = {"decision": decision, "reason": reason[:MAX_REASON_FIELD], "kind": kind,
              "hours": hours[:12], "functions": functions,
              "skip_warning_reason": skip_warning_reason[:MAX_REASON_FIELD],
              "debunk_id": debunk_id[:20], "debunk_other": debunk_other[:20],
              "learn": learn[:4]}
    errors = FormErrors()
    if decision not in DECISIONS:
        errors.add("decision", _("Choose a decision."))
    if not reason.strip():
        errors.add("reason", _("Give a reason: it goes into the statement of reasons and the "
                               "audit record."))
    elif len(reason) > MAX_REASON_FIELD:
        errors.add("reason", _("This is too long."))
    if len(skip_warning_reason) > MAX_REASON_FIELD:
        errors.add("skip_warning_reason", _("This is too long."))
    order = None
    if decision == "sanction":
        duration = parse_positive(hours, maximum=MAX_HOURS) if hours.strip() else None
        if kind not in MEMBER_KINDS:
            errors.add("kind", _("Choose a sanction."))
        if hours.strip() and duration is None:
            errors.add("hours", _("Enter whole hours, 1 or more."))
        if any(f not in FUNCTIONS for f in functions):
            errors.add("functions", _("Choose among the listed functions."))
        if not errors:
            order = review.SanctionOrder(
                kind=SanctionKind(kind),
                duration_seconds=duration * 3600 if duration is not None else None,
                functions=tuple(Function(f) for f in functions),
                skip_warning_reason=skip_warning_reason.strip() or None)
    label = None
    if decision == "label":
        chosen = debunk_other.strip() or debunk_id.strip()
        number = parse_positive(chosen, maximum=MAX_ID) if chosen else None
        if chosen and number is None:
            errors.add("debunk_other", _("Enter the debunk's number, 1 or more."))
        label = review.LabelOrder(debunk_id=number, learn=learn == "1")
    if errors:
        return _case_failed(request, uow, me, item_id, errors, values)
    result = attempt(uow, lambda: review.do_decide(uow, acting=me, item_id=item_id,
                                                   decision=Decision(decision), reason=reason,
                                                   sanction=order, label=label))
    if isinstance(result, QunguanError):
        errors = officer_explain(result, _)
        if decision == "label" and (result.code == "not_found" or result.details.get(
                "problem") in ("debunk_missing", "debunk_true")):
            errors = FormErrors(code=result.code, details=dict(result.details))
            errors.add("debunk_other", _("Choose a debunk that earns a card (false, "
                                         "misleading or unverified): none matches, or this "
                                         "number is not one."))
        elif result.details.get("problem") == "held_for_other_rules":
            errors = FormErrors(code=result.code, details=dict(result.details))
            errors.add("decision", _("The message is also held for %(rules)s: remove it, or "
                                     "dismiss the item to deliver it as it is.",
                                     rules=", ".join(result.details.get("rules") or [])))
        return _case_failed(request, uow, me, item_id, errors, values)
    return redirect(f"/officer/review/{item_id}?decided=1")
