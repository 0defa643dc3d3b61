"""The debunk bank: search, add, edit, retire, import CSV/JSONL files with each bad row
named, and keep each entry's phrasings (add, retire), over rumors.actions and rumors.queries
as the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from starlette.responses import Response

from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.rumors import actions as rumor_actions
from qunguan.rumors import queries as rumor_queries
from qunguan.web.forms import FormErrors, attempt
from qunguan.web.i18n import N_, OFFICER, Gettext, gettext_for
from qunguan.web.officer.common import (
    OfficerAccount,
    display_names,
    officer_explain,
    parse_positive,
)
from qunguan.web.officer.problems import import_problem
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE = 50
MAX_IMPORT_BYTES = 1_000_000  # the API's DebunkImport.content limit
VERDICTS = {"false": N_("False"), "misleading": N_("Misleading"),
            "unverified": N_("Unverified"), "true": N_("True")}
# field -> what to say when the action finds it wrong (rumors.actions.check_field).
FIELD_HELP = {
    "claim": N_("Write the claim that circulates (at most 2,000 characters, with words)."),
    "verdict": N_("Choose a verdict."),
    "refutation": N_("Write the correction (at most 4,000 characters)."),
    "publisher": N_("Name who checked it (at most 200 characters)."),
    "source_url": N_("Enter an address starting with http:// or https://."),
    "published_on": N_("Enter a date as YYYY-MM-DD."),
    "language": N_("Enter a language tag such as zh or en."),
    "reason": N_("Give a reason for retiring it."),
    "text": N_("Write the phrasing: 4 to 1,000 characters with words, and no ID, phone or "
               "bank card numbers."),
}
SOURCES = {"officer": N_("Typed by an officer"), "review": N_("Learned from a review"),
           "import": N_("Imported")}
FIELDS = ("claim", "verdict", "refutation", "publisher", "source_url", "published_on",
          "language")


def _field_errors(exc: QunguanError, _: Gettext) -> FormErrors:
    errors = officer_explain(exc, _)
    if exc.code == "invalid_request":
        named = FormErrors(code=exc.code, details=dict(exc.details))
        for name in errors.by_field:
            if name in FIELD_HELP:
                named.add(name, _(FIELD_HELP[name]))
        return named if named else errors
    return errors


def _list_context(uow: UnitOfWork, me: Account, q: str, status: str,
                  before_id: int | None) -> dict[str, Any]:
    rows, next_before = rumor_queries.list_debunks(
        uow, viewer=me, q=q or None, status=status if status in ("active", "retired") else None,
        before_id=before_id, limit=PAGE)
    return {"debunks": rows, "next_before": next_before, "q": q, "filter_status": status,
            "verdicts": VERDICTS, "import_problem": import_problem}


@router.get("/officer/debunks")
def bank(request: Request, uow: UowDep, me: OfficerAccount,
         q: Annotated[str, Query(max_length=200)] = "",
         status: Annotated[str, Query(max_length=16)] = "active",
         before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    return page(request, "officer/debunks.html", errors=FormErrors(), values={},
                import_errors=FormErrors(), result=None,
                **_list_context(uow, me, q, status, before_id))


def debunk_form(claim: Annotated[str, Form()] = "", verdict: Annotated[str, Form()] = "",
                refutation: Annotated[str, Form()] = "",
                publisher: Annotated[str, Form()] = "",
                source_url: Annotated[str, Form()] = "",
                published_on: Annotated[str, Form()] = "",
                language_tag: Annotated[str, Form(alias="language")] = "") -> dict[str, str]:
    """The entry's fields as typed, for the add and edit forms (the actions check lengths)."""
    return {"claim": claim, "verdict": verdict, "refutation": refutation,
            "publisher": publisher, "source_url": source_url, "published_on": published_on,
            "language": language_tag}


DebunkFields = Annotated[dict[str, str], Depends(debunk_form)]


@router.post("/officer/debunks")
def add(request: Request, uow: UowDep, me: OfficerAccount, _csrf: Csrf,
        values: DebunkFields) -> Response:
    _ = gettext_for(language(request), OFFICER)
    errors = _check_all(values, _)
    if not errors:
        result = attempt(uow, lambda: rumor_actions.do_add_debunk(
            uow, acting=me, fields={k: v for k, v in values.items() if v.strip()}))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/debunks/{result.id}?saved=1")
        errors = _field_errors(result, _)
    return page(request, "officer/debunks.html", status=422, errors=errors, values=values,
                import_errors=FormErrors(), result=None,
                **_list_context(uow, me, "", "active", None))


def _check_all(values: dict[str, str], _: Gettext, *, partial: bool = False) -> FormErrors:
    """Every bad field at once (the action stops at the first)."""
    errors = FormErrors()
    for name in FIELDS:
        if partial and name not in values:
            continue
        value = values.get(name, "")
        try:
            rumor_actions.check_field(name, value if value.strip() else None)
        except rumor_actions.FieldProblem:
            errors.add(name, _(FIELD_HELP[name]))
    return errors


@router.post("/officer/debunks/import")
def import_file(request: Request, uow: UowDep, me: OfficerAccount, _csrf: Csrf,
                      file: Annotated[UploadFile | None, File()] = None,
                      format: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    errors = FormErrors()
    name = (file.filename or "") if file is not None else ""
    fmt = format or ("jsonl" if name.endswith((".jsonl", ".json")) else
                     "csv" if name.endswith(".csv") else "")
    content = ""
    if fmt not in ("csv", "jsonl"):
        errors.add("format", _("Choose CSV or JSONL."))
    if file is None or not name:
        errors.add("file", _("Choose a file."))
    else:
        data = file.file.read(MAX_IMPORT_BYTES + 1)  # a sync route: no DB work on the loop
        if len(data) > MAX_IMPORT_BYTES:
            errors.add("file", _("The file is too large (at most 1 MB): split it."))
        else:
            try:
                content = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                errors.add("file", _("The file is not UTF-8 text."))
    result = None
    if not errors:
        outcome = attempt(uow, lambda: rumor_actions.do_import_debunks(
            uow, acting=me, content=content, fmt=fmt, source=name[:200] or "upload"))
        if isinstance(outcome, QunguanError):
            errors = officer_explain(outcome, _)
        else:
            result = {"rows": outcome.rows, "imported": len(outcome.imported),
                      "duplicates": outcome.duplicates,
                      "phrasings_skipped": outcome.phrasings_skipped}
    return page(request, "officer/debunks.html", status=422 if errors else 200,
                errors=FormErrors(), values={}, import_errors=errors, result=result,
                import_format=fmt, **_list_context(uow, me, "", "active", None))


def _entry_page(request: Request, uow: UnitOfWork, me: Account, debunk_id: int,
                errors: FormErrors, values: dict[str, str], status: int = 200, *,
                phrasing_errors: FormErrors | None = None, phrasing: str = "",
                retire_failed: int | None = None) -> Response:
    entry = rumor_queries.access_debunk(uow, viewer=me, debunk_id=debunk_id)
    if not values:
        values = {n: "" if getattr(entry, n) is None else str(getattr(entry, n))
                  for n in FIELDS}
    phrasings = rumor_queries.phrasings_for(uow, [entry.id])[entry.id]
    return page(request, "officer/debunk.html", status=status, entry=entry, errors=errors,
                values=values, verdicts=VERDICTS, phrasings=phrasings, sources=SOURCES,
                names=display_names(uow, [p.added_by for p in phrasings]),
                phrasing_errors=phrasing_errors or FormErrors(), phrasing=phrasing,
                retire_failed=retire_failed)


@router.get("/officer/debunks/{debunk_id}")
def entry_page(request: Request, debunk_id: IdPath, uow: UowDep,
               me: OfficerAccount) -> Response:
    return _entry_page(request, uow, me, debunk_id, FormErrors(), {})


@router.post("/officer/debunks/{debunk_id}")
def edit(request: Request, debunk_id: IdPath, uow: UowDep, me: OfficerAccount, _csrf: Csrf,
         values: DebunkFields, version: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    errors = _check_all(values, _)
    expected = parse_positive(version)
    if expected is None:
        errors.add(None, _("Someone changed this since you opened it. Reload the page."))
    if not errors:
        changes: dict[str, object] = {k: (v if v.strip() else None) for k, v in values.items()}
        result = attempt(uow, lambda: rumor_actions.do_edit_debunk(
            uow, acting=me, debunk_id=debunk_id, changes=changes, expected_version=expected))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/debunks/{debunk_id}?saved=1")
        errors = _field_errors(result, _)
    return _entry_page(request, uow, me, debunk_id, errors, values, status=422)


@router.post("/officer/debunks/{debunk_id}/retire")
def retire(request: Request, debunk_id: IdPath, uow: UowDep, me: OfficerAccount, _csrf: Csrf,
           version: Annotated[str, Form()] = "",
           reason: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    errors = FormErrors()
    expected = parse_positive(version)
    if not reason.strip() or len(reason) > 500:
        sentence = FIELD_HELP["reason"]
        errors.add("reason", _(sentence))
    if expected is None:
        errors.add(None, _("Someone changed this since you opened it. Reload the page."))
    if not errors:
        result = attempt(uow, lambda: rumor_actions.do_retire_debunk(
            uow, acting=me, debunk_id=debunk_id, reason=reason, expected_version=expected))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/debunks/{debunk_id}?retired=1")
        errors = _field_errors(result, _)
    return _entry_page(request, uow, me, debunk_id, errors, {}, status=422)


@router.post("/officer/debunks/{debunk_id}/phrasings")
def add_phrasing(request: Request, debunk_id: IdPath, uow: UowDep, me: OfficerAccount,
                 _csrf: Csrf, text: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    errors = FormErrors()
    if not text.strip() or len(text) > rumor_actions.MAX_PHRASING_CHARS:
        sentence = FIELD_HELP["text"]  # a variable, so the extractor does not take "text"
        errors.add("text", _(sentence))
    if not errors:
        result = attempt(uow, lambda: rumor_actions.do_add_phrasing(
            uow, acting=me, debunk_id=debunk_id, text=text))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/debunks/{debunk_id}?phrased=1#phrasings")
        errors = _field_errors(result, _)
    return _entry_page(request, uow, me, debunk_id, FormErrors(), {}, status=422,
                       phrasing_errors=errors,
                       phrasing=text[:rumor_actions.MAX_PHRASING_CHARS])


@router.post("/officer/debunks/{debunk_id}/phrasings/{phrasing_id}/retire")
def retire_phrasing(request: Request, debunk_id: IdPath, phrasing_id: IdPath, uow: UowDep,
                    me: OfficerAccount, _csrf: Csrf,
                    reason: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    errors = FormErrors()
    if not reason.strip() or len(reason) > 500:
        sentence = FIELD_HELP["reason"]
        errors.add("reason", _(sentence))
    if not errors:
        result = attempt(uow, lambda: rumor_actions.do_retire_phrasing(
            uow, acting=me, debunk_id=debunk_id, phrasing_id=phrasing_id, reason=reason))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/debunks/{debunk_id}?unphrased=1#phrasings")
        errors = _field_errors(result, _)
    return _entry_page(request, uow, me, debunk_id, FormErrors(), {}, status=422,
                       phrasing_errors=errors, retire_failed=phrasing_id)
