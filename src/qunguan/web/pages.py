"""The web's router class: pages answer errors with pages, never JSON or a trace."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError
from starlette.responses import RedirectResponse, Response

from qunguan.kernel.errors import QunguanError
from qunguan.web.forms import FormErrors, explain
from qunguan.web.i18n import gettext_for
from qunguan.web.render import page
from qunguan.web.session import CsrfFailed, LoginRequired, language


def redirect(url: str) -> RedirectResponse:
    """After a successful form: see the result with a GET (303)."""
    return RedirectResponse(url, status_code=303)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def form_done(request: Request, url: str) -> Response:
    """A form succeeded: go to ``url`` (htmx follows HX-Redirect with a full page load)."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return redirect(url)


def form_failed(request: Request, template: str, *, errors: FormErrors, fields: list[str],
                prefix: str = "", form_errors_id: str = "form-errors",
                **context: object) -> Response:
    """A form failed. To htmx: only the error elements, swapped in place, so what was typed
    stays in the browser and personal data is never sent back. Without scripts: the whole
    page again (422), refilled only with what ``context`` passes (never personal data)."""
    if is_htmx(request):
        return page(request, "components/_form_errors_oob.html", errors=errors, fields=fields,
                    prefix=prefix, form_errors_id=form_errors_id)
    return page(request, template, status=422, errors=errors, **context)


def login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    url = "/login?next=" + quote(target, safe="")
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return redirect(url)


def error_page(request: Request, exc: QunguanError) -> Response:
    _ = gettext_for(language(request))
    errors = explain(exc, _)
    return page(request, "error.html", status=exc.status, errors=errors)


def csrf_page(request: Request) -> Response:
    return page(request, "error.html", status=403, csrf_failed=True, errors=None)


class WebRoute(APIRoute):
    """Errors an action raises outside a form's own handling become an error page; a page
    that needs a login redirects to it; a request without its CSRF token is refused."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except CsrfFailed:
                return csrf_page(request)
            except QunguanError as exc:
                return error_page(request, exc)
            except (DataError, OverflowError, UnicodeEncodeError):
                # The API's safety net, as a page: a value the database cannot hold (a NUL
                # character) reached it; the transaction was rolled back.
                return error_page(request, QunguanError("invalid_request", "Unstorable value."))

        return route
