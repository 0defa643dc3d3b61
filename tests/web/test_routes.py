"""Every page route classified: who may open it, that forms refuse a missing CSRF token, and
that junk in any form field answers with a page, never a 500 or a trace (the web's own
counterparts of test_authz_matrix.py and test_bad_input.py, which cover the JSON API)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from qunguan.app import create_app
from qunguan.config import Settings
from qunguan.web import ROUTERS
from qunguan.web.pages import WebRoute
from tests.conftest import Cast
from tests.web.conftest import Web

# "public": anyone; "member": a logged-in account (others are sent to the login page).
ACCESS = {
    "GET /": "public",
    "GET /login": "public",
    "POST /login": "public",
    "GET /register": "public",
    "POST /register": "public",
    "POST /language": "public",
    "POST /logout": "member",
    "GET /verify": "member",
    "POST /verify": "member",
    "GET /profile": "member",
    "POST /profile": "member",
    "GET /groups": "member",
    "GET /groups/{group_id}": "member",
    "GET /groups/{group_id}/messages/{message_id}": "member",
    "POST /groups/{group_id}/messages": "member",
    "GET /messages/{message_id}/forward": "member",
    "POST /messages/{message_id}/forward": "member",
    "POST /messages/{message_id}/recall": "member",
    "GET /groups/{group_id}/info": "member",
    "POST /groups/{group_id}/rules/acknowledge": "member",
    "GET /join": "member",
    "POST /join": "member",
    "GET /me/sanctions": "member",
    "POST /me/statements/{statement_id}/appeal": "member",
    "GET /me/reports": "member",
    "GET /me/corrections": "member",
    "GET /messages/{message_id}/report": "member",
    "POST /messages/{message_id}/report": "member",
    "GET /groups/{group_id}/envelopes": "member",
    "POST /groups/{group_id}/envelopes": "member",
    "POST /envelopes/{envelope_id}/open": "member",
    "POST /groups/{group_id}/wallet/topup": "member",
    "GET /groups/{group_id}/admin": "member",
    "POST /groups/{group_id}/join-requests/{request_id}": "member",
    "POST /groups/{group_id}/members/{account_id}/remove": "member",
    "POST /groups/{group_id}/members/{account_id}/mute": "member",
    "POST /groups/{group_id}/members/{account_id}/unmute": "member",
    "POST /groups/{group_id}/rules": "member",
    "GET /groups/new": "member",
    "POST /groups/new": "member",
    "GET /me/invitations": "member",
    "POST /me/invitations/{invitation_id}/accept": "member",
    "POST /groups/{group_id}/leave": "member",
    "POST /groups/{group_id}/invitations": "member",
    "GET /messages/{message_id}/delete": "member",
    "POST /messages/{message_id}/delete": "member",
    "POST /groups/{group_id}/members/{account_id}/role": "member",
    "POST /groups/{group_id}/transfer": "member",
    # the officer console: a login first, then officers only (tests/web/test_officer.py)
    "GET /officer": "officer",
    "GET /officer/alerts": "officer",
    "GET /officer/groups": "officer",
    "GET /officer/groups/{group_id}": "officer",
    "POST /officer/groups/{group_id}/envelope-limit": "officer",
    "POST /officer/groups/{group_id}/envelope-limit/clear": "officer",
    "GET /officer/appeals": "officer",
    "GET /officer/appeals/{appeal_id}": "officer",
    "GET /officer/audit": "officer",
    "GET /officer/clusters": "officer",
    "GET /officer/clusters/{cluster_id}": "officer",
    "GET /officer/debunks": "officer",
    "GET /officer/debunks/{debunk_id}": "officer",
    "GET /officer/elections": "officer",
    "POST /officer/elections": "officer",
    "POST /officer/elections/{election_id}/cancel": "officer",
    "GET /officer/policy": "officer",
    "GET /officer/review": "officer",
    "GET /officer/review/{item_id}": "officer",
    "GET /officer/sanctions": "officer",
    "POST /officer/appeals/{appeal_id}/decide": "officer",
    "POST /officer/clusters/{cluster_id}/breaker": "officer",
    "POST /officer/debunks": "officer",
    "POST /officer/debunks/import": "officer",
    "POST /officer/debunks/{debunk_id}": "officer",
    "POST /officer/debunks/{debunk_id}/retire": "officer",
    "POST /officer/debunks/{debunk_id}/phrasings": "officer",
    "POST /officer/debunks/{debunk_id}/phrasings/{phrasing_id}/retire": "officer",
    "POST /officer/policy": "officer",
    "POST /officer/review/{item_id}/claim": "officer",
    "POST /officer/review/{item_id}/export": "officer",
    "POST /officer/sanctions/{sanction_id}/lift": "officer",
    "POST /officer/review/{item_id}/decide": "officer",
    "POST /officer/review/{item_id}/release": "officer",
    "GET /officer/holds": "officer",
    "POST /officer/holds": "officer",
    "POST /officer/holds/{hold_id}/lift": "officer",
    "GET /officer/retention": "officer",
    "GET /officer/unmaskings": "officer",
    "GET /officer/unmaskings/{request_id}": "officer",
    "POST /officer/unmaskings": "officer",
    "POST /officer/unmaskings/{request_id}/approve": "officer",
    "POST /officer/unmaskings/{request_id}/reject": "officer",
    "POST /officer/unmaskings/{request_id}/reveal": "officer",
}


def web_routes() -> dict[str, Any]:
    """The page routes: every router ``web.install`` mounts."""
    return {f"{method} {route.path}": route for router in ROUTERS for route in router.routes
            if isinstance(route, WebRoute) for method in sorted(route.methods)}


def test_every_page_route_is_classified(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/x.db", data_dir=tmp_path),
                     check_migrations=False)
    routes = set(web_routes())
    assert all(isinstance(route, WebRoute) for router in ROUTERS for route in router.routes)
    assert routes - set(ACCESS) == set(), "classify these page routes in ACCESS"
    assert set(ACCESS) - routes == set(), "these ACCESS entries name no route"
    # Pages are not part of the API schema (and its matrix): HTML, not JSON.
    assert not any(k.split(" ", 1)[1] in app.openapi()["paths"] for k in routes)


def concrete(path: str, cast: Cast) -> str:
    ids = {"group_id": cast.group["id"], "account_id": cast.member2.id}
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path)


@pytest.mark.parametrize("key", sorted(k for k, v in ACCESS.items() if v in ("member", "officer")))
def test_member_pages_send_strangers_to_the_login(key: str, web: Web, cast: Cast) -> None:
    method, path = key.split(" ", 1)
    url = concrete(path, cast)
    web.as_(None)
    r = web.get(url) if method == "GET" else web.post(url, {})
    assert r.status_code == 303, r.text[:300]
    assert r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("key", sorted(k for k in ACCESS if k.startswith("POST")))
def test_forms_refuse_a_missing_csrf_token(key: str, web: Web, cast: Cast) -> None:
    url = concrete(key.split(" ", 1)[1], cast)
    person = cast.officer if ACCESS[key] == "officer" else cast.founder
    r = web.as_(person).post(url, {"text": "x"}, csrf=False)
    assert r.status_code == 403
    assert "表单已过期" in r.text


JUNK = ["", " ", "\x00", "0", "-1", "9" * 30, "😀" * 3000, "<script>alert(1)</script>",
        "' OR 1=1 --", "１２３", "NaN", "1e9"]


@pytest.mark.parametrize("key", sorted(k for k in ACCESS if k.startswith("POST")))
def test_junk_in_every_field_answers_with_a_page(key: str, web: Web, cast: Cast) -> None:
    url = concrete(key.split(" ", 1)[1], cast)
    fields = ("phone", "password", "display_name", "provider", "legal_name", "id_number",
              "token", "text", "reply_to_id", "mentions", "confirm", "group_ids", "reason",
              "note", "good_faith", "code", "rules_version", "total_yuan", "parts", "split",
              "key", "amount_yuan", "seconds", "decision", "rules", "lang", "next", "name",
              "category", "tier", "join_policy", "rules_text", "member_cap", "account_id",
              "role")
    person = cast.officer if ACCESS[key] == "officer" else cast.founder
    for junk in JUNK:
        web.as_(person)
        r = web.post(url, dict.fromkeys(fields, junk))
        assert r.status_code < 500, (junk, r.text[:300])
        assert "Traceback" not in r.text
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("text/html"), (junk, r.text[:200])
        assert "<script>alert(1)</script>" not in r.text
