"""Member pages of the account: register, log in and out, verify identity, display name,
language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from qunguan.identity import actions as identity_actions
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.web import UowDep
from qunguan.web.forms import FormErrors, attempt, check_all, explain
from qunguan.web.i18n import LANGUAGES, N_, Gettext, gettext_for
from qunguan.web.pages import WebRoute, form_done, form_failed, redirect
from qunguan.web.render import page
from qunguan.web.session import (
    LANGUAGE_COOKIE,
    Csrf,
    MaybeAccount,
    WebAccount,
    clear_session,
    language,
    session_token,
    set_session,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Text = Annotated[str, Form()]
MAX_FIELD = 1024  # longer form values are refused before any action sees them

# Titles and field labels of the built-in providers; a third-party provider shows its own.
PROVIDER_TITLES = {
    "resident_id": N_("Resident ID card"),
    "network_id": N_("National network identity (网号/网证)"),
    "officer_review": N_("Review by an officer"),
}
PROVIDER_NOTES = {
    "resident_id": N_("Checked at once. Your name and number are sealed; other members "
                      "never see them."),
    "network_id": N_("Paste the credential your network identity app gives you. We learn "
                     "only the result."),
    "officer_review": N_("An officer checks your documents and approves. You can read your "
                         "groups meanwhile."),
}
FIELD_LABELS = {
    "legal_name": N_("Legal name"),
    "id_number": N_("Resident ID number"),
    "token": N_("Credential"),
}


def safe_next(value: str | None, default: str = "/groups") -> str:
    """Only a path on this site: never another host (an open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def too_long(errors: FormErrors, _: Gettext, **values: str) -> None:
    for name, value in values.items():
        if len(value) > MAX_FIELD:
            errors.add(name, _("This is too long."))


@router.get("/")
def home(me: MaybeAccount) -> Response:
    return redirect("/groups" if me else "/login")


@router.get("/login")
def login_form(request: Request, me: MaybeAccount, next: str | None = None) -> Response:
    if me is not None:
        return redirect(safe_next(next))
    return page(request, "member/login.html", next=safe_next(next), errors=FormErrors())


@router.post("/login")
def login(request: Request, uow: UowDep, _csrf: Csrf, phone: Text = "", password: Text = "",
          next: Text = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    too_long(errors, _, phone=phone, password=password)
    if not phone.strip():
        errors.add("phone", _("Enter your phone number."))
    if not password:
        errors.add("password", _("Enter your password."))
    if not errors:
        result = attempt(uow, lambda: identity_actions.do_login(uow, phone=phone.strip(),
                                                                password=password))
        if not isinstance(result, QunguanError):
            response = form_done(request, safe_next(next))
            set_session(request, response, result.token, uow.settings.token_ttl_seconds)
            return response
        errors = explain(result, _)
    return form_failed(request, "member/login.html", errors=errors,
                       fields=["phone", "password"], next=safe_next(next))


@router.get("/register")
def register_form(request: Request, me: MaybeAccount) -> Response:
    if me is not None:
        return redirect("/groups")
    return page(request, "member/register.html", values={}, errors=FormErrors())


@router.post("/register")
def register(request: Request, uow: UowDep, _csrf: Csrf, phone: Text = "", password: Text = "",
             display_name: Text = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    too_long(errors, _, phone=phone, password=password, display_name=display_name)
    if not phone.strip():
        errors.add("phone", _("Enter your phone number."))
    else:
        errors.merge(check_all(_, lambda: identity_actions.check_phone(phone)))
    if not display_name.strip():
        errors.add("display_name", _("Choose a display name."))
    else:
        errors.merge(check_all(_, lambda: identity_actions.check_display_name(display_name)))
    if len(password) < identity_actions.MIN_PASSWORD:
        errors.add("password", _("Use at least 8 characters."))
    if not errors:
        registered = attempt(uow, lambda: identity_actions.do_register(
            uow, phone=phone.strip(), password=password, display_name=display_name))
        if not isinstance(registered, QunguanError):
            # Two actions, two transactions, as an API client registering and then logging
            # in: login ends its read before the slow password check, which it may not do
            # with the registration still uncommitted.
            uow.commit()
            result = attempt(uow, lambda: identity_actions.do_login(
                uow, phone=phone.strip(), password=password))
            if isinstance(result, QunguanError):
                return form_done(request, "/login")
            response = form_done(request, "/verify?welcome=1")
            set_session(request, response, result.token, uow.settings.token_ttl_seconds)
            return response
        errors = explain(registered, _)
    return form_failed(request, "member/register.html", errors=errors,
                       fields=["phone", "password", "display_name"],
                       values={"display_name": display_name[:MAX_FIELD]})


@router.post("/logout")
def logout(request: Request, uow: UowDep, me: WebAccount, _csrf: Csrf) -> Response:
    token = session_token(request) or ""
    attempt(uow, lambda: identity_actions.do_logout(uow, acting=me, token=token))
    response = redirect("/login")
    clear_session(response)
    return response


def _providers() -> list[dict[str, object]]:
    return [{"name": p.name, "title": PROVIDER_TITLES.get(p.name, p.title),
             "note": PROVIDER_NOTES.get(p.name, ""),
             "fields": [(f, FIELD_LABELS.get(f, f)) for f in p.fields]}
            for p in identity_queries.verification_providers()]


@router.get("/verify")
def verify_form(request: Request, uow: UowDep, me: WebAccount, welcome: int = 0) -> Response:
    return page(request, "member/verify.html", providers=_providers(), chosen=None,
                errors=FormErrors(), welcome=bool(welcome),
                history=identity_queries.my_verifications(uow, me))


@router.post("/verify")
def verify(request: Request, uow: UowDep, me: WebAccount, _csrf: Csrf, provider: Text = "",
           legal_name: Text = "", id_number: Text = "", token: Text = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    too_long(errors, _, legal_name=legal_name, id_number=id_number, token=token)
    known = {p.name: p for p in identity_queries.verification_providers()}
    chosen = known.get(provider)
    if chosen is None:
        errors.add(None, _("Choose one of the listed ways to verify."))
    else:
        given = {"legal_name": legal_name, "id_number": id_number, "token": token}
        for name in chosen.fields:
            if not given.get(name, "").strip():
                errors.add(name, _("This field is required."))
    if not errors and chosen is not None:
        submission = {name: given[name].strip() for name in chosen.fields}
        result = attempt(uow, lambda: identity_actions.do_submit_verification(
            uow, acting=me, provider=provider, submission=submission))
        if not isinstance(result, QunguanError):
            return form_done(request, "/verify")
        errors = explain(result, _)
    return form_failed(request, "member/verify.html", errors=errors,
                       fields=list(chosen.fields) if chosen else [], prefix=f"{provider}-",
                       form_errors_id=f"form-errors-{provider}", providers=_providers(),
                       chosen=provider, welcome=False,
                       history=identity_queries.my_verifications(uow, me))


@router.get("/profile")
def profile_form(request: Request, me: WebAccount) -> Response:
    return page(request, "member/profile.html", values={"display_name": me.display_name},
                errors=FormErrors(), saved=False)


@router.post("/profile")
def profile(request: Request, uow: UowDep, me: WebAccount, _csrf: Csrf,
            display_name: Text = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    too_long(errors, _, display_name=display_name)
    if not display_name.strip():
        errors.add("display_name", _("Choose a display name."))
    if not errors:
        result = attempt(uow, lambda: identity_actions.do_update_profile(
            uow, acting=me, display_name=display_name, avatar_text=None))
        if not isinstance(result, QunguanError):
            return page(request, "member/profile.html", values={"display_name": me.display_name},
                        errors=FormErrors(), saved=True)
        errors = explain(result, _)
    return page(request, "member/profile.html", status=422, errors=errors, saved=False,
                values={"display_name": display_name[:MAX_FIELD]})


@router.post("/language")
def set_language(request: Request, _csrf: Csrf, lang: Text = "", next: Text = "") -> Response:
    response = redirect(safe_next(next, "/"))
    if lang in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax",
                            httponly=True, path="/")
    return response
