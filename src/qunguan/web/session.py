"""Who is looking at a page: identity's sessions carried in a cookie, and CSRF protection.

The session cookie holds the same bearer token ``POST /api/sessions`` returns (identity's
sessions, their expiry and revocation), HttpOnly and SameSite=Lax, so page scripts never see
it. Every form and htmx request also carries a CSRF token: kept in its own cookie and echoed in
the form field ``csrf_token`` or the ``X-CSRF-Token`` header (double submit). A page on another
site can neither read the cookie nor set the field.

The token is bound to the session it was issued in: ``NONCE.MAC``, the MAC an HMAC-SHA256 of
the nonce keyed with the session's bearer token (or with nothing, before a login). A token from
another session, or from before a login or logout, does not verify: a cookie planted from a
sibling site, or a token read in one session, acts in no other. Logging in sets a token bound
to the new session; a page whose token no longer fits its session mints a new one.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Form, Request
from starlette.responses import Response

from qunguan.identity import SESSION_COOKIE, Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.ids import new_token
from qunguan.kernel.web import UowDep
from qunguan.web.i18n import DEFAULT_LANGUAGE, choose_language

CSRF_COOKIE = "qunguan_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LANGUAGE_COOKIE = "qunguan_lang"


class LoginRequired(Exception):
    """The page needs a logged-in account; the web answers with a redirect to the login."""


class CsrfFailed(Exception):
    """A form or htmx request without the matching CSRF token."""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _mac(nonce: str, session: str | None) -> str:
    return hmac.new((session or "").encode(), b"qunguan-csrf:" + nonce.encode(),
                    hashlib.sha256).hexdigest()


def bound_token(session: str | None) -> str:
    """A new CSRF token bound to ``session`` (a bearer token; None before a login)."""
    nonce = new_token(18)
    return f"{nonce}.{_mac(nonce, session)}"


def fits_session(token: str, session: str | None) -> bool:
    """Whether ``token`` was issued in ``session``."""
    nonce, dot, mac = token.partition(".")
    return bool(nonce and dot) and hmac.compare_digest(mac.encode(),
                                                       _mac(nonce, session).encode())


def csrf_token(request: Request) -> str:
    """The token for this browser and session; minted when the cookie holds none that fits
    the session, and set on the response by ``finish``."""
    token: str | None = getattr(request.state, "csrf", None)
    if token is None:
        token = request.cookies.get(CSRF_COOKIE) or ""
        if not fits_session(token, session_token(request)):
            token = bound_token(session_token(request))
        request.state.csrf = token
    return token


def finish(request: Request, response: Response) -> Response:
    """Set the CSRF cookie when this request minted it."""
    minted = getattr(request.state, "csrf", None)
    if minted and minted != request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, minted, httponly=True, samesite="strict",
                            secure=_secure(request), path="/")
    return response


def require_csrf(request: Request, csrf_token_field: Annotated[
        str, Form(alias=CSRF_FIELD)] = "") -> None:
    """The form's token matches the cookie's (double submit) and was issued in this session."""
    expected = request.cookies.get(CSRF_COOKIE) or ""
    given = csrf_token_field or request.headers.get(CSRF_HEADER, "")
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()) \
            or not fits_session(given, session_token(request)):
        raise CsrfFailed


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    """Log the browser in: the session cookie, and a CSRF token bound to the new session
    (the one the login form carried was bound to none)."""
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax",
                        secure=_secure(request), path="/")
    request.state.csrf = bound_token(token)
    response.set_cookie(CSRF_COOKIE, request.state.csrf, httponly=True, samesite="strict",
                        secure=_secure(request), path="/")


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def optional_account(uow: UowDep, request: Request) -> Account | None:
    token = session_token(request)
    if token is None:
        return None
    try:
        return identity_queries.authenticate(uow, token)
    except QunguanError:
        return None


def web_account(request: Request, account: Annotated[Account | None,
                                                       Depends(optional_account)]) -> Account:
    if account is None:
        raise LoginRequired
    request.state.account = account
    return account


def language(request: Request) -> str:
    return choose_language(request.cookies.get(LANGUAGE_COOKIE) or DEFAULT_LANGUAGE)


WebAccount = Annotated[Account, Depends(web_account)]
MaybeAccount = Annotated[Account | None, Depends(optional_account)]
Csrf = Annotated[None, Depends(require_csrf)]
