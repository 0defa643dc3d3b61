"""A browser-like client of the pages: cookies, the CSRF token, forms, htmx headers. Every
response goes through the PII scan like the API's (tests/conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qunguan.identity import SESSION_COOKIE
from tests.cast import Person
from tests.conftest import COLLECTOR, is_vault_page

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Web:
    def __init__(self, client: TestClient) -> None:
        self.client = client

    def _seen(self, method: str, path: str, response: Any) -> Any:
        if not is_vault_page(method, path, response.status_code):
            COLLECTOR.texts.append((f"page {method} {path}", response.text))
        return response

    def as_(self, person: Person | None) -> Web:
        """Carry ``person``'s session (the cast's token) in the cookie, or none."""
        self.client.cookies.clear()
        if person is not None:
            self.client.cookies.set(SESSION_COOKIE, person.token)
        return self

    def get(self, path: str, **kw: Any) -> Any:
        return self._seen("GET", path, self.client.get(path, follow_redirects=False, **kw))

    def csrf(self) -> str:
        token = self.client.cookies.get("qunguan_csrf")
        if not token:
            match = CSRF.search(self.get("/login").text) or \
                CSRF.search(self.get("/profile").text)
            assert match
            token = match.group(1)
        return token

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
             htmx: bool = False, **kw: Any) -> Any:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf()
        headers = {"HX-Request": "true"} if htmx else {}
        return self._seen("POST", path, self.client.post(
            path, data=form, headers=headers, follow_redirects=False, **kw))


@pytest.fixture
def web(app: Any) -> Iterator[Web]:
    with TestClient(app) as client:
        yield Web(client)


def errors_of(html: str) -> dict[str, str]:
    """Visible error texts by element id (f-<field>-error, form-errors)."""
    found = {}
    for m in re.finditer(r'<(?:p|div) class="(?:error|alert)"[^>]*id="([^"]+)"([^>]*)>(.*?)'
                         r'</(?:p|div)>', html, re.S):
        if "hidden" not in m.group(2):
            found[m.group(1)] = re.sub(r"<[^>]+>|\s+", " ", m.group(3)).strip()
    return found
