"""Rendering pages: one Jinja environment, and the context every template gets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from qunguan.kernel.money import format_fen
from qunguan.web.i18n import DOMAIN, HTML_LANG, LANGUAGES, OFFICER, gettext_for
from qunguan.web.session import CSRF_FIELD, csrf_token, finish, language

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

environment = Environment(loader=FileSystemLoader(TEMPLATES),
                          autoescape=select_autoescape(["html"]),
                          trim_blocks=True, lstrip_blocks=True)


def short_time(value: datetime | str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%m-%d %H:%M")


def unique_reasons(reasons: object) -> list[Any]:
    """A prompt's reasons once each, and each debunk card once: a forward to several groups
    repeats the reasons per group, and two rules may carry the same card."""
    seen: list[Any] = []
    cards: set[tuple[Any, Any]] = set()
    for reason in reasons if isinstance(reasons, list) else []:
        if not isinstance(reason, dict) or reason in seen:
            continue
        data = reason.get("data")
        if isinstance(data, dict) and isinstance(data.get("cards"), list):
            fresh = [c for c in data["cards"] if isinstance(c, dict)
                     and (c.get("debunk_id"), c.get("version")) not in cards]
            cards.update((c.get("debunk_id"), c.get("version")) for c in fresh)
            reason = {**reason, "data": {**data, "cards": fresh}}
        seen.append(reason)
    return seen


environment.filters["yuan"] = format_fen  # integer fen shown as yuan, no float
environment.filters["short_time"] = short_time
environment.filters["unique_reasons"] = unique_reasons


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` in the visitor's language with the shared context."""
    lang = language(request)
    values = {
        "request": request,
        # The console's pages read its catalogue first (i18n.DOMAINS).
        "_": gettext_for(lang, OFFICER if template.startswith("officer/") else DOMAIN),
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "languages": LANGUAGES,
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(request),
        "me": getattr(request.state, "account", None),
        "path": request.url.path,
    }
    values.update(context)
    html = environment.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status)
    finish(request, response)
    return response
