"""What every officer page shares: the officer check, error sentences for the console's
forms, and small parsers of form fields."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends

from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork
from qunguan.web.forms import FormErrors, explain
from qunguan.web.i18n import N_, Gettext
from qunguan.web.session import WebAccount


def officer_account(me: WebAccount) -> Account:
    """The page is for officers: anyone else gets the "you may not do this" page (403), as
    the API answers them with ``forbidden``."""
    return identity_queries.require_officer(me)


OfficerAccount = Annotated[Account, Depends(officer_account)]


def display_names(uow: UnitOfWork, ids: list[int | None]) -> dict[int, str]:
    """Display names (never identity) of the accounts named on a page."""
    wanted = sorted({i for i in ids if i is not None})
    return {a.id: a.display_name for a in identity_queries.accounts_by_ids(uow, wanted).values()}

# What a review item, report or sanction is about.
SUBJECTS = {"message": N_("Message %(id)s"), "account": N_("Account %(id)s"),
            "group": N_("Group %(id)s"), "envelope": N_("Red envelope %(id)s")}


def subject_text(_: Gettext, subject_type: str, subject_id: object) -> str:
    return _(SUBJECTS[subject_type], id=subject_id) if subject_type in SUBJECTS \
        else f"{subject_type} {subject_id}"


# code -> (field or None, sentence): the console's own errors (the members' are in forms.py).
MESSAGES: dict[str, tuple[str | None, str]] = {
    "review_claimed_by_another": (None, N_("Another officer is reviewing this item. Wait until "
                                           "the claim expires or is released.")),
    "review_claim_required": (None, N_("Claim the item first (your claim may have expired).")),
    "review_item_decided": (None, N_("This item was already decided.")),
    "decision_reason_required": ("reason", N_("Give a reason: it goes into the statement of "
                                              "reasons and the audit record.")),
    "decision_not_applicable": ("decision", N_("This decision does not fit the item.")),
    "reason_has_personal_data": ("reason", N_("Remove the phone or ID number from the reason.")),
    "invalid_sanction": ("kind", N_("This sanction does not fit its subject, or it lacks a "
                                    "duration or functions.")),
    "warning_required": ("skip_warning_reason",
                         N_("The member was never warned: warn first, or say why not.")),
    "sanction_not_active": (None, N_("The sanction was already lifted or has expired.")),
    "own_decision": (None, N_("Four-eyes rule: another officer must decide an appeal against "
                              "your own decision.")),
    "appeal_decided": (None, N_("This appeal was already decided.")),
    "debunk_duplicate": ("claim", N_("An active debunk already states this claim.")),
    "debunk_retired": (None, N_("The debunk was retired: it can no longer be edited.")),
    "phrasing_duplicate": ("text", N_("The debunk already has this phrasing, or its claim says "
                                      "it.")),
    "phrasing_taken": ("text", N_("Another debunk already says this: one wording stands for "
                                  "one debunk.")),
    "phrasings_full": ("text", N_("The debunk has as many phrasings as it may keep: retire "
                                  "one that no longer circulates first.")),
    "phrasing_retired": (None, N_("This phrasing was already retired.")),
    "debunk_import_invalid": (None, N_("Some rows are bad, so nothing was imported. "
                                            "Fix the rows listed below.")),
    "invalid_policy_pack": (None, N_("The policy pack is not valid: see the problems "
                                          "listed below.")),
    "conflict": (None, N_("Someone changed this since you opened it. Reload the page.")),
    # dual-control unmasking (identity.unmasking)
    "same_officer": (None, N_("Dual control: another officer must approve or reject your own "
                              "unmasking request.")),
    "unmask_decided": (None, N_("This request was already approved or rejected.")),
    "unmask_not_approved": (None, N_("A second officer has not approved this request (it "
                                     "waits, or it was rejected).")),
    "already_revealed": (None, N_("The identity was already shown once. A new request is "
                                  "needed to see it again.")),
    "reveal_window_passed": (None, N_("The time to read the approved identity has passed. "
                                      "Make a new request.")),
    "no_sealed_identity": ("account_id", N_("This account has no verified legal name and ID "
                                            "number to unmask (it verified another way, or "
                                            "not yet).")),
    # legal holds (governance)
    "hold_not_active": (None, N_("This legal hold was already lifted.")),
}


def officer_explain(exc: QunguanError, _: Gettext) -> FormErrors:
    """Like ``forms.explain``, with the console's codes, and the fields an action names as
    ``{"loc": [..., name]}`` put next to that field."""
    if exc.code not in MESSAGES:
        errors = explain(exc, _)
        if exc.code == "invalid_request":
            errors = FormErrors(code=exc.code, details=dict(exc.details))
            for bad in problem_fields(exc):
                errors.add(bad, _("Check this field."))
            if not errors:
                errors.add(None, _("Check the highlighted fields."))
        return errors
    errors = FormErrors(code=exc.code, details=dict(exc.details))
    name, sentence = MESSAGES[exc.code]
    errors.add(name, _(sentence))
    return errors


def problem_fields(exc: QunguanError) -> list[str]:
    """The field names an ``invalid_request`` error points at."""
    names: list[str] = []
    for entry in exc.details.get("fields") or []:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("loc"), list) and entry["loc"]:
            names.append(str(entry["loc"][-1]))
    return names


def parse_positive(value: str, *, maximum: int = 10**9) -> int | None:
    """A whole number from a form field, 1..maximum; None when it is not one."""
    text = value.strip()
    if not text.isdigit() or len(text) > 12:
        return None
    number = int(text)
    return number if 1 <= number <= maximum else None


def chart_json(option: dict[str, Any]) -> str:
    """A chart's option as JSON for a <script type="application/json"> block: ``</`` can not
    close the script element."""
    return json.dumps(option, ensure_ascii=False, default=str).replace("</", "<\\/")
