"""Who may call what: every route of the API × every role of the cast, with the status each
gets.

The table is keyed by "METHOD /path/template" exactly as the OpenAPI schema names the route;
a route in the schema missing from the table fails ``test_every_route_is_classified``, so a
new route must be classified here before it can land. Each route's cells run in one test
(one cast setup per route and backend); what a call consumes (a pending verification, a join
request, a message to recall, a session to end) is created afresh for that call.

A cell is the status, or ``(status, error code)`` for errors. A cell the code gets wrong today
goes in KNOWN_BUGS with the CORRECT expectation in the table: the route's test then xfails
(strictly: it fails once the bug is fixed, so the entry gets removed).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.websockets import WebSocketDisconnect

from qunguan.app import create_app
from qunguan.auditlog import actions as auditlog_actions
from qunguan.config import Settings
from qunguan.identity import queries as identity_queries
from qunguan.kernel.models import AuditRecord
from tests.cast import Person, resident_id
from tests.conftest import Api, Cast, join_by_invitation, login, make_officer, register

ROLES = ("anonymous", "newcomer", "outsider", "member", "admin", "founder", "officer")
Cell = int | tuple[int, str]

UNAUTH: Cell = (401, "not_authenticated")
NOT_FOUND: Cell = (404, "not_found")
FORBIDDEN: Cell = (403, "forbidden")
REAL_NAME: Cell = (403, "real_name_required")
ALREADY_MEMBER: Cell = (409, "already_member")


def everyone(ok: Cell, anonymous: Cell = UNAUTH, **override: Cell) -> dict[str, Cell]:
    cells = dict.fromkeys(ROLES, ok)
    cells["anonymous"] = anonymous
    cells.update(override)
    return cells


def group_members(ok: Cell, **override: Cell) -> dict[str, Cell]:
    """Members of the group (the newcomer included) get ``ok``; the outsider and the officer,
    who are not members, get not_found."""
    return everyone(ok, **{"outsider": NOT_FOUND, "officer": NOT_FOUND, **override})


def group_managers(ok: Cell, **override: Cell) -> dict[str, Cell]:
    """The group's admin and founder get ``ok``; plain members forbidden; strangers 404."""
    return group_members(ok, **{"newcomer": FORBIDDEN, "member": FORBIDDEN, **override})


def officers_only(ok: Cell) -> dict[str, Cell]:
    return everyone(FORBIDDEN, officer=ok)


# --- the context a call is prepared in ----------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    as_: Person | None = None


_serial = itertools.count(1)


@dataclass
class Ctx:
    api: Api
    app: Any
    cast: Cast
    message_id: int = 0  # posted by the member in setup
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def gid(self) -> int:
        return int(self.cast.group["id"])

    @property
    def code(self) -> str:
        return str(self.cast.group["code"])

    @property
    def rules_version(self) -> int:
        group = self.api.get(f"/api/groups/{self.gid}", as_=self.cast.founder).json()
        return int(group["rules_version"])

    def person(self, role: str) -> Person | None:
        return None if role == "anonymous" else self.cast[role]

    def fresh_account(self, verified: bool = False) -> Person:
        n = next(_serial)
        person = Person(f"fresh{n}", f"1370000{n:04d}", f"临时{n}", "公孙临时",
                        resident_id("110105", "19970101", f"{n % 1000:03d}"))
        register(self.api, person)
        if verified:
            r = self.api.post("/api/me/verifications", as_=person,
                              json={"provider": "resident_id", "legal_name": person.legal_name,
                                    "id_number": person.id_number})
            assert r.status_code == 201, r.text
        return person

    def post_message(self, text: str = "今天下午开会") -> int:
        r = self.api.post(f"/api/groups/{self.gid}/messages", as_=self.cast.member,
                          json={"text": text})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def ensure_member(self, person: Person) -> None:
        r = self.api.get(f"/api/groups/{self.gid}/members", as_=self.cast.founder)
        assert r.status_code == 200, r.text
        if person.id not in {m["account_id"] for m in r.json()}:
            group = dict(self.cast.group, rules_version=self.rules_version)
            join_by_invitation(self.api, group, self.cast.founder, person)

    def pending_verification(self) -> int:
        person = self.fresh_account()
        r = self.api.post("/api/me/verifications", as_=person,
                          json={"provider": "officer_review", "legal_name": person.legal_name,
                                "id_number": person.id_number})
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "pending"
        return int(r.json()["id"])

    def pending_join_request(self) -> int:
        person = self.fresh_account()
        r = self.api.post(f"/api/groups/by-code/{self.code}/join-requests", as_=person,
                          json={"rules_version": self.rules_version})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def fresh_token(self, person: Person | None) -> dict[str, str]:
        """A session of its own, so ending it leaves the cast's session alone."""
        if person is None:
            return {}
        copy = Person(person.key, person.phone, person.display_name, None, None,
                      person.password, person.id)
        login(self.api, copy)
        return copy.auth


Prepare = Callable[[Ctx, str], Call]


def simple(method: str, path: str, body: Any = None) -> Prepare:
    """A call whose path and body do not depend on the caller or on fresh state."""

    def prepare(ctx: Ctx, role: str) -> Call:
        return Call(method, path.format(g=ctx.gid, code=ctx.code, m=ctx.message_id,
                                        member=ctx.cast.member.id,
                                        member2=ctx.cast.member2.id,
                                        outsider=ctx.cast.outsider.id),
                    body(ctx) if callable(body) else body)

    return prepare


def _register(ctx: Ctx, role: str) -> Call:
    n = next(_serial)
    return Call("POST", "/api/accounts", {"phone": f"1360000{n:04d}",
                                          "password": "fresh-password", "display_name": "新号"})


def _login(ctx: Ctx, role: str) -> Call:
    return Call("POST", "/api/sessions", {"phone": ctx.cast.member.phone,
                                          "password": ctx.cast.member.password})


def _logout(ctx: Ctx, role: str) -> Call:
    return Call("DELETE", "/api/sessions/current", headers=ctx.fresh_token(ctx.person(role)))


def _submit_verification(ctx: Ctx, role: str) -> Call:
    n = next(_serial)
    return Call("POST", "/api/me/verifications",
                {"provider": "resident_id", "legal_name": "令狐新人",
                 "id_number": resident_id("310104", "19980808", f"{n % 1000:03d}")})


def _decide_verification(ctx: Ctx, role: str) -> Call:
    return Call("POST", f"/api/officer/verifications/{ctx.pending_verification()}/decision",
                {"approve": False, "note": "证件照片不清晰"})


def _reveal(ctx: Ctx, role: str) -> Call:
    if "verification" not in ctx.state:
        ctx.state["verification"] = ctx.pending_verification()
    return Call("POST", f"/api/officer/verifications/{ctx.state['verification']}/reveal",
                {"purpose": "人工审核", "request_ref": "REQ-1"})


def _blacklist(ctx: Ctx, role: str) -> Call:
    target = ctx.fresh_account(verified=True)
    return Call("POST", f"/api/officer/accounts/{target.id}/blacklist", {"reason": "冒用身份"})


def _join_request(ctx: Ctx, role: str) -> Call:
    return Call("POST", f"/api/groups/by-code/{ctx.code}/join-requests",
                {"note": "请批准", "rules_version": ctx.rules_version})


def _decide_join(ctx: Ctx, role: str) -> Call:
    return Call("POST", f"/api/groups/{ctx.gid}/join-requests/"
                f"{ctx.pending_join_request()}/decision", {"approve": True})


def _accept_invitation(ctx: Ctx, role: str) -> Call:
    # One invitation, addressed to the outsider: only its invitee may accept it.
    if "invitation" not in ctx.state:
        r = ctx.api.post(f"/api/groups/{ctx.gid}/invitations", as_=ctx.cast.founder,
                         json={"account_id": ctx.cast.outsider.id})
        assert r.status_code == 201, r.text
        ctx.state["invitation"] = r.json()["id"]
    return Call("POST", f"/api/me/invitations/{ctx.state['invitation']}/accept",
                {"rules_version": ctx.rules_version})


def _on_member2(action: str, body: Any = None) -> Prepare:
    def prepare(ctx: Ctx, role: str) -> Call:
        ctx.ensure_member(ctx.cast.member2)
        return Call("POST", f"/api/groups/{ctx.gid}/members/{ctx.cast.member2.id}/{action}",
                    body)

    return prepare


def _on_fresh_message(action: str, body: Any = None) -> Prepare:
    def prepare(ctx: Ctx, role: str) -> Call:
        return Call("POST", f"/api/messages/{ctx.post_message()}/{action}", body)

    return prepare


def _member_statement(ctx: Ctx, decider: Person | None = None) -> int:
    """A warning to the member, imposed by ``decider`` (default the cast's officer); the id
    of the statement it produced."""
    r = ctx.api.post("/api/officer/sanctions", as_=decider or ctx.cast.officer,
                     json={"subject_type": "account", "subject_id": ctx.cast.member.id,
                           "kind": "warning", "reason": "刷屏"})
    assert r.status_code == 201, r.text
    r = ctx.api.get("/api/me/statements", as_=ctx.cast.member)
    return int(next(s["id"] for s in r.json() if s["sanction_id"] is not None))


def _statement(ctx: Ctx, role: str) -> Call:
    if "statement" not in ctx.state:
        ctx.state["statement"] = _member_statement(ctx)
    return Call("GET", f"/api/me/statements/{ctx.state['statement']}")


def _appeal(ctx: Ctx, role: str) -> Call:
    return Call("POST", f"/api/me/statements/{_member_statement(ctx)}/appeal",
                {"text": "我没有刷屏"})


def _lift(ctx: Ctx, role: str) -> Call:
    r = ctx.api.post("/api/officer/sanctions", as_=ctx.cast.officer,
                     json={"subject_type": "account", "subject_id": ctx.cast.member2.id,
                           "kind": "restrict", "functions": ["forward"],
                           "duration_seconds": 3600, "reason": "转发广告"})
    assert r.status_code == 201, r.text
    return Call("POST", f"/api/officer/sanctions/{r.json()['id']}/lift", {"reason": "已整改"})


def _decide_appeal(ctx: Ctx, role: str) -> Call:
    # Imposed by another officer, so the cast's officer may decide (four-eyes rule).
    if "officer2" not in ctx.state:
        person = ctx.fresh_account(verified=True)
        make_officer(ctx.app, person)
        ctx.state["officer2"] = person
    statement = _member_statement(ctx, ctx.state["officer2"])
    r = ctx.api.post(f"/api/me/statements/{statement}/appeal", as_=ctx.cast.member,
                     json={"text": "我没有刷屏"})
    assert r.status_code == 201, r.text
    return Call("POST", f"/api/officer/appeals/{r.json()['id']}/decide",
                {"outcome": "upheld", "reason": "记录属实"})


def _fresh_item(ctx: Ctx, claimed: bool = False) -> int:
    """A review item of its own: a fresh message of the member, reported by member2; claimed
    by the cast's officer when asked."""
    message_id = ctx.post_message(f"待核实的消息{next(_serial)}")
    r = ctx.api.post("/api/reports", as_=ctx.cast.member2,
                     json={"subject_type": "message", "subject_id": message_id,
                           "reason": "spam"})
    assert r.status_code == 201, r.text
    r = ctx.api.get("/api/officer/review", as_=ctx.cast.officer, params={"limit": 200})
    item_id = int(next(i["id"] for i in r.json() if i["subject_id"] == message_id))
    if claimed:
        r = ctx.api.post(f"/api/officer/review/{item_id}/claim", as_=ctx.cast.officer)
        assert r.status_code == 200, r.text
    return item_id


def _my_report(ctx: Ctx, role: str) -> Call:
    if "report" not in ctx.state:
        r = ctx.api.post("/api/reports", as_=ctx.cast.member,
                         json={"subject_type": "group", "subject_id": ctx.gid,
                               "reason": "spam"})
        assert r.status_code == 201, r.text
        ctx.state["report"] = r.json()["id"]
    return Call("GET", f"/api/me/reports/{ctx.state['report']}")


def _review_item(action: str | None, body: Any = None, claimed: bool = False) -> Prepare:
    def prepare(ctx: Ctx, role: str) -> Call:
        if action is None:  # reading: one item serves every role
            if "item" not in ctx.state:
                ctx.state["item"] = _fresh_item(ctx)
            return Call("GET", f"/api/officer/review/{ctx.state['item']}")
        return Call("POST", f"/api/officer/review/{_fresh_item(ctx, claimed)}/{action}", body)

    return prepare


def _unfreeze(ctx: Ctx, role: str) -> Call:
    r = ctx.api.post("/api/officer/emergency/freeze", as_=ctx.cast.officer,
                     json={"group_id": ctx.gid, "reason": "应急"})
    assert r.status_code == 200, r.text
    return Call("POST", "/api/officer/emergency/unfreeze", {"group_id": ctx.gid,
                                                            "reason": "解除"})


def _purge(ctx: Ctx, role: str) -> Call:
    return Call("POST", "/api/officer/emergency/purge",
                {"message_id": ctx.post_message(f"待清除的消息{next(_serial)}"),
                 "reason": "不实信息"})


def _logged(suffix: str) -> Prepare:
    """Audit log reads: the records appended and a checkpoint signed first."""

    def prepare(ctx: Ctx, role: str) -> Call:
        uow = ctx.app.state.uows()
        try:
            system = identity_queries.system_account(uow)
            uow.commit()
            while auditlog_actions.do_append(uow, acting=system):
                pass
            auditlog_actions.do_sign_checkpoint(uow, acting=system)
            uow.commit()
            record_id = uow.session.scalar(select(func.min(AuditRecord.id)))
        finally:
            uow.close()
        return Call("GET", suffix.format(record=record_id))

    return prepare


def _debunk_body(ctx: Ctx) -> dict[str, Any]:
    n = next(_serial)
    return {"claim": f"第{n}号测试谣言：喝某种茶能预防一切病毒", "verdict": "false",
            "refutation": "没有证据。", "publisher": "辟谣平台"}


def _fresh_debunk(ctx: Ctx) -> int:
    r = ctx.api.post("/api/officer/debunks", as_=ctx.cast.officer, json=_debunk_body(ctx))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _debunk(method: str, suffix: str = "", body: Any = None) -> Prepare:
    def prepare(ctx: Ctx, role: str) -> Call:
        if method == "GET":  # reading: one entry serves every role
            ctx.state.setdefault("debunk", _fresh_debunk(ctx))
            return Call(method, f"/api/officer/debunks/{ctx.state['debunk']}{suffix}")
        return Call(method, f"/api/officer/debunks/{_fresh_debunk(ctx)}{suffix}", body)

    return prepare


def _phrasing_retire(ctx: Ctx, role: str) -> Call:
    debunk_id = _fresh_debunk(ctx)
    r = ctx.api.post(f"/api/officer/debunks/{debunk_id}/phrasings", as_=ctx.cast.officer,
                     json={"text": f"第{next(_serial)}种说法：喝茶能防病毒"})
    assert r.status_code == 201, r.text
    phrasing_id = r.json()["phrasings"][0]["id"]
    return Call("POST", f"/api/officer/debunks/{debunk_id}/phrasings/{phrasing_id}/retire",
                {"reason": "不再流传"})


def _cluster(suffix: str = "", body: Any = None) -> Prepare:
    """The cluster of the setup message (its assignment runs in the outbox)."""

    def prepare(ctx: Ctx, role: str) -> Call:
        from tests.rumors.debunk_helpers import drain
        drain(ctx.app)
        r = ctx.api.get("/api/officer/clusters", as_=ctx.cast.officer)
        assert r.status_code == 200, r.text
        return Call("GET" if body is None else "POST",
                    f"/api/officer/clusters/{r.json()['items'][0]['id']}{suffix}", body)

    return prepare


def _import_debunks(ctx: Ctx, role: str) -> Call:
    return Call("POST", "/api/officer/debunks/import",
                {"format": "jsonl", "content": json.dumps(_debunk_body(ctx))})


def _money_headers(ctx: Ctx, role: str) -> dict[str, str]:
    person = ctx.person(role)
    return {**(person.auth if person else {}), "Idempotency-Key": f"matrix-{next(_serial)}"}


def _topup(ctx: Ctx, role: str) -> Call:
    return Call("POST", "/api/me/wallet/topup", {"amount_fen": 100},
                headers=_money_headers(ctx, role))


def _fund(ctx: Ctx, person: Person | None) -> None:
    if person is not None and person.id_number:  # the newcomer cannot top up (PAY-2)
        r = ctx.api.post("/api/me/wallet/topup", as_=person, json={"amount_fen": 1000},
                         headers={"Idempotency-Key": f"fund-{next(_serial)}"})
        assert r.status_code == 201, r.text


def _send_envelope(ctx: Ctx, role: str) -> Call:
    _fund(ctx, ctx.person(role))
    return Call("POST", f"/api/groups/{ctx.gid}/envelopes", {"total_fen": 100, "parts": 1},
                headers=_money_headers(ctx, role))


def _fresh_envelope(ctx: Ctx) -> int:
    _fund(ctx, ctx.cast.founder)
    r = ctx.api.post(f"/api/groups/{ctx.gid}/envelopes", as_=ctx.cast.founder,
                     json={"total_fen": 100, "parts": 1},
                     headers={"Idempotency-Key": f"fresh-{next(_serial)}"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _election_body(ctx: Ctx) -> dict[str, Any]:
    return {"name": "换届选举", "scope": "group", "group_id": ctx.gid,
            "starts_at": "2026-11-20T00:00:00+08:00", "ends_at": "2026-12-20T00:00:00+08:00"}


def _election(suffix: str = "", body: Any = None) -> Prepare:
    def prepare(ctx: Ctx, role: str) -> Call:
        r = ctx.api.post("/api/officer/elections", as_=ctx.cast.officer, json=_election_body(ctx))
        assert r.status_code == 201, r.text
        method = "POST" if body is not None else "GET"
        return Call(method, f"/api/officer/elections/{r.json()['id']}{suffix}", body)

    return prepare


def _envelope(suffix: str = "") -> Prepare:
    def prepare(ctx: Ctx, role: str) -> Call:
        if not suffix:  # reading: one envelope serves every role
            ctx.state.setdefault("envelope", _fresh_envelope(ctx))
            return Call("GET", f"/api/envelopes/{ctx.state['envelope']}")
        return Call("POST", f"/api/envelopes/{_fresh_envelope(ctx)}{suffix}")

    return prepare


# --- the table ----------------------------------------------------------------------------

# --- governance: legal holds, retention, unmasking, case export ---------------------------


def _fresh_hold(ctx: Ctx, role: str) -> Call:
    r = ctx.api.post("/api/officer/legal-holds", as_=ctx.cast.officer,
                     json={"scope": "group", "scope_id": ctx.gid, "reason": "保全"})
    assert r.status_code == 201, r.text
    return Call("POST", f"/api/officer/legal-holds/{r.json()['id']}/lift", {"reason": "结束"})


def _fresh_envelope_limit(ctx: Ctx, role: str) -> Call:
    r = ctx.api.put(f"/api/officer/groups/{ctx.gid}/envelope-limits", as_=ctx.cast.officer,
                    json={"max_fen": 5000, "reason": "限额"})
    assert r.status_code == 200, r.text
    return Call("POST", f"/api/officer/groups/{ctx.gid}/envelope-limits/clear",
                {"reason": "解除"})


def _unmask_body(ctx: Ctx) -> dict[str, Any]:
    return {"case_id": _fresh_item(ctx), "account_id": ctx.cast.member.id, "reason": "纪检调查"}


def _second_officer(ctx: Ctx) -> Person:
    if "officer2" not in ctx.state:
        person = ctx.fresh_account(verified=True)
        make_officer(ctx.app, person)
        ctx.state["officer2"] = person
    return ctx.state["officer2"]  # type: ignore[no-any-return]


def _unmasking(action: str) -> Prepare:
    """approve/reject: requested by a second officer, decided by the caller; reveal: requested
    by the cast's officer, approved by the second officer, read by the caller."""

    def prepare(ctx: Ctx, role: str) -> Call:
        other = _second_officer(ctx)
        requester = ctx.cast.officer if action == "reveal" else other
        r = ctx.api.post("/api/officer/unmaskings", as_=requester, json=_unmask_body(ctx))
        assert r.status_code == 201, r.text
        request_id = r.json()["id"]
        if action == "reveal":
            r = ctx.api.post(f"/api/officer/unmaskings/{request_id}/approve", as_=other,
                             json={})
            assert r.status_code == 200, r.text
            return Call("POST", f"/api/officer/unmaskings/{request_id}/reveal")
        body = {"note": "理由不足"} if action == "reject" else {}
        return Call("POST", f"/api/officer/unmaskings/{request_id}/{action}", body)

    return prepare


def _export_case(ctx: Ctx, role: str) -> Call:
    if "case" not in ctx.state:
        ctx.state["case"] = _fresh_item(ctx)
    return Call("POST", f"/api/officer/cases/{ctx.state['case']}/export")


def _archive_import(suffix: str = "") -> Prepare:
    """An archive loaded with --import-into (one serves every role)."""

    def prepare(ctx: Ctx, role: str) -> Call:
        if "archive_import" not in ctx.state:
            from qunguan.importers import Archive
            from qunguan.importers.loading import load_archive

            fixture = Path(__file__).parent / "importers" / "fixtures" / "wecom.jsonl"
            uow = ctx.app.state.uows()
            try:
                ctx.state["archive_import"] = load_archive(
                    uow, Archive([fixture], "auto", False, lambda e: None)).import_id
            finally:
                uow.close()
        return Call("GET", f"/api/officer/archive-imports{suffix}".format(
            id=ctx.state["archive_import"]))

    return prepare


MATRIX: dict[str, tuple[dict[str, Cell], Prepare]] = {
    # identity
    "POST /api/accounts": (everyone(201, anonymous=201), _register),
    "POST /api/sessions": (everyone(201, anonymous=201), _login),
    "DELETE /api/sessions/current": (everyone(204), _logout),
    "GET /api/me": (everyone(200), simple("GET", "/api/me")),
    "PATCH /api/me": (everyone(200), simple("PATCH", "/api/me", {"avatar_text": "A"})),
    # Profiles by id: the account itself and officers; members meet through member lists.
    "GET /api/accounts/{account_id}": (everyone(NOT_FOUND, member=200, officer=200),
                                       simple("GET", "/api/accounts/{member}")),
    "GET /api/verification-providers": (everyone(200, anonymous=200),
                                        simple("GET", "/api/verification-providers")),
    "GET /api/me/verifications": (everyone(200), simple("GET", "/api/me/verifications")),
    "POST /api/me/verifications": (everyone((409, "already_verified"), newcomer=201),
                                   _submit_verification),
    "GET /api/officer/verifications": (officers_only(200),
                                       simple("GET", "/api/officer/verifications")),
    "POST /api/officer/verifications/{verification_id}/decision": (officers_only(200),
                                                                    _decide_verification),
    "POST /api/officer/verifications/{verification_id}/reveal": (officers_only(200), _reveal),
    "POST /api/officer/accounts/{account_id}/blacklist": (officers_only(201), _blacklist),
    # groups
    "GET /api/groups": (everyone(200), simple("GET", "/api/groups")),
    "POST /api/groups": (everyone(201, newcomer=REAL_NAME),
                         simple("POST", "/api/groups", {"name": "新群", "category": "work"})),
    # Anyone holding the code may see the group's card to ask to join (GA-3).
    "GET /api/groups/by-code/{code}": (everyone(200), simple("GET", "/api/groups/by-code/{code}")),
    # Officers oversee every group's info page (GA-3, GA-4) but not its history.
    "GET /api/groups/{group_id}": (group_members(200, officer=200),
                                   simple("GET", "/api/groups/{g}")),
    "GET /api/groups/{group_id}/members": (group_members(200, officer=200),
                                           simple("GET", "/api/groups/{g}/members")),
    "POST /api/groups/by-code/{code}/join-requests": (
        everyone(ALREADY_MEMBER, outsider=201, officer=201), _join_request),
    "GET /api/groups/{group_id}/join-requests": (group_managers(200),
                                                 simple("GET", "/api/groups/{g}/join-requests")),
    "POST /api/groups/{group_id}/join-requests/{request_id}/decision": (group_managers(200),
                                                                        _decide_join),
    "POST /api/groups/{group_id}/invitations": (
        group_managers(201), simple("POST", "/api/groups/{g}/invitations",
                                    lambda ctx: {"account_id": ctx.cast.outsider.id})),
    "GET /api/me/invitations": (everyone(200), simple("GET", "/api/me/invitations")),
    "GET /api/me/corrections": (everyone(200), simple("GET", "/api/me/corrections")),
    "POST /api/me/invitations/{invitation_id}/accept": (everyone(NOT_FOUND, outsider=200),
                                                        _accept_invitation),
    "POST /api/groups/{group_id}/members/{account_id}/remove": (
        group_managers(204), _on_member2("remove", {"reason": "刷屏"})),
    "POST /api/groups/{group_id}/leave": (
        group_members(204, founder=(409, "founder_cannot_leave")),
        simple("POST", "/api/groups/{g}/leave")),
    "POST /api/groups/{group_id}/members/{account_id}/mute": (
        group_managers(204), _on_member2("mute", {"seconds": 600, "reason": "刷屏"})),
    "POST /api/groups/{group_id}/members/{account_id}/unmute": (group_managers(204),
                                                                _on_member2("unmute")),
    "POST /api/groups/{group_id}/members/{account_id}/role": (
        group_managers(204, admin=FORBIDDEN), _on_member2("role", {"role": "admin"})),
    "PUT /api/groups/{group_id}/rules": (
        group_managers(200), simple("PUT", "/api/groups/{g}/rules", {"text": "新群规"})),
    "POST /api/groups/{group_id}/transfer": (
        group_managers(200, admin=FORBIDDEN),
        simple("POST", "/api/groups/{g}/transfer",
               lambda ctx: {"account_id": ctx.cast.member2.id})),
    "GET /api/officer/groups": (officers_only(200), simple("GET", "/api/officer/groups")),
    # audit log
    "GET /api/officer/audit-records": (officers_only(200),
                                       simple("GET", "/api/officer/audit-records")),
    "GET /api/officer/auditlog/checkpoint": (officers_only(200),
                                             _logged("/api/officer/auditlog/checkpoint")),
    "GET /api/officer/audit-records/{record_id}/proof": (
        officers_only(200), _logged("/api/officer/audit-records/{record}/proof")),
    "GET /api/officer/auditlog/consistency": (
        officers_only(200), _logged("/api/officer/auditlog/consistency?first=1")),
    # published for auditors and witnesses: no login, nothing of a record
    "GET /api/auditlog/checkpoint": (everyone(200, anonymous=200),
                                     _logged("/api/auditlog/checkpoint")),
    "GET /api/auditlog/keys": (everyone(200, anonymous=200), _logged("/api/auditlog/keys")),
    "GET /api/auditlog/consistency": (everyone(200, anonymous=200),
                                      _logged("/api/auditlog/consistency?first=1")),
    # screening: the active policy pack and its rule hits
    "GET /api/officer/policy": (officers_only(200), simple("GET", "/api/officer/policy")),
    "GET /api/officer/policy/versions": (officers_only(200),
                                         simple("GET", "/api/officer/policy/versions")),
    "GET /api/officer/policy/hits": (officers_only(200),
                                     simple("GET", "/api/officer/policy/hits?mode=shadow")),
    # messaging
    "POST /api/groups/{group_id}/messages": (
        group_members(201, newcomer=REAL_NAME),
        simple("POST", "/api/groups/{g}/messages", {"text": "收到"})),
    "GET /api/groups/{group_id}/messages": (group_members(200),
                                            simple("GET", "/api/groups/{g}/messages")),
    "GET /api/messages/{message_id}": (group_members(200), simple("GET", "/api/messages/{m}")),
    # The real-name check comes first: the newcomer is told why, not "not found".
    "POST /api/messages/{message_id}/forward": (
        group_members(201, newcomer=REAL_NAME),
        simple("POST", "/api/messages/{m}/forward", lambda ctx: {"group_ids": [ctx.gid]})),
    # Only the sender recalls; founders and admins delete instead.
    "POST /api/messages/{message_id}/recall": (
        group_members(FORBIDDEN, member=200), _on_fresh_message("recall")),
    "POST /api/messages/{message_id}/delete": (
        group_managers(200), _on_fresh_message("delete", {"reason": "不实信息"})),
    # sanctions, credit, statements, appeals
    "GET /api/me/sanctions": (everyone(200), simple("GET", "/api/me/sanctions")),
    "GET /api/me/credit": (everyone(200), simple("GET", "/api/me/credit")),
    "GET /api/me/statements": (everyone(200), simple("GET", "/api/me/statements")),
    # Only one's own statement; anyone else's answers like a missing one.
    "GET /api/me/statements/{statement_id}": (everyone(NOT_FOUND, member=200), _statement),
    "POST /api/me/statements/{statement_id}/appeal": (everyone(NOT_FOUND, member=201),
                                                       _appeal),
    "POST /api/officer/sanctions": (
        officers_only(201),
        simple("POST", "/api/officer/sanctions",
               lambda ctx: {"subject_type": "account", "subject_id": ctx.cast.member2.id,
                            "kind": "warning", "reason": "刷屏"})),
    "GET /api/officer/sanctions": (officers_only(200), simple("GET", "/api/officer/sanctions")),
    "GET /api/officer/sanctions/next-step": (
        officers_only(200),
        simple("GET", "/api/officer/sanctions/next-step?subject_type=account&subject_id="
               "{member}")),
    "POST /api/officer/sanctions/{sanction_id}/lift": (officers_only(200), _lift),
    "GET /api/officer/credit/{subject_type}/{subject_id}": (
        officers_only(200), simple("GET", "/api/officer/credit/account/{member}")),
    "GET /api/officer/appeals": (officers_only(200), simple("GET", "/api/officer/appeals")),
    "POST /api/officer/appeals/{appeal_id}/decide": (officers_only(200), _decide_appeal),
    # reports (any member, of what they can see), the review queue, emergency mode
    "POST /api/reports": (group_members(201), simple(
        "POST", "/api/reports", lambda ctx: {"subject_type": "message",
                                             "subject_id": ctx.message_id, "reason": "spam"})),
    "GET /api/me/reports": (everyone(200), simple("GET", "/api/me/reports")),
    "GET /api/me/reports/{report_id}": (everyone(NOT_FOUND, member=200), _my_report),
    "GET /api/officer/review": (officers_only(200), simple("GET", "/api/officer/review")),
    "GET /api/officer/review/{item_id}": (officers_only(200), _review_item(None)),
    "POST /api/officer/review/{item_id}/claim": (officers_only(200), _review_item("claim")),
    "POST /api/officer/review/{item_id}/release": (
        officers_only(200), _review_item("release", claimed=True)),
    "POST /api/officer/review/{item_id}/decide": (
        officers_only(200), _review_item("decide", {"decision": "dismiss", "reason": "无违规"},
                                         claimed=True)),
    "POST /api/officer/emergency/freeze": (
        officers_only(200), simple("POST", "/api/officer/emergency/freeze",
                                   lambda ctx: {"group_id": ctx.gid, "reason": "应急"})),
    "POST /api/officer/emergency/unfreeze": (officers_only(200), _unfreeze),
    "POST /api/officer/emergency/purge": (officers_only(200), _purge),
    # rumours: the debunk bank
    "GET /api/officer/debunks": (officers_only(200), simple("GET", "/api/officer/debunks")),
    "POST /api/officer/debunks": (officers_only(201),
                                  simple("POST", "/api/officer/debunks", _debunk_body)),
    "GET /api/officer/debunks/{debunk_id}": (officers_only(200), _debunk("GET")),
    "PATCH /api/officer/debunks/{debunk_id}": (officers_only(200),
                                               _debunk("PATCH", body={"verdict": "misleading"})),
    "POST /api/officer/debunks/{debunk_id}/retire": (
        officers_only(200), _debunk("POST", "/retire", {"reason": "录入有误"})),
    "POST /api/officer/debunks/import": (officers_only(200), _import_debunks),
    "POST /api/officer/debunks/{debunk_id}/phrasings": (
        officers_only(201), _debunk("POST", "/phrasings", {"text": "另一种说法：喝茶能防病毒"})),
    "POST /api/officer/debunks/{debunk_id}/phrasings/{phrasing_id}/retire": (
        officers_only(200), _phrasing_retire),
    # rumours: content clusters and the circuit breaker
    "GET /api/officer/clusters": (officers_only(200), simple("GET", "/api/officer/clusters")),
    "GET /api/officer/clusters/{cluster_id}": (officers_only(200), _cluster()),
    "POST /api/officer/clusters/{cluster_id}/breaker": (
        officers_only(200), _cluster("/breaker", {"state": "tripped", "reason": "扩散太快"})),
    # red envelopes: wallets (PAY-2: top-up needs real-name verification)
    "GET /api/me/wallet": (everyone(200), simple("GET", "/api/me/wallet")),
    "POST /api/me/wallet/topup": (everyone(201, newcomer=REAL_NAME), _topup),
    "POST /api/groups/{group_id}/envelopes": (group_members(201, newcomer=REAL_NAME),
                                              _send_envelope),
    "GET /api/envelopes/{envelope_id}": (group_members(200), _envelope()),
    "POST /api/envelopes/{envelope_id}/claim": (group_members(200, newcomer=REAL_NAME),
                                                _envelope("/claim")),
    # limits: members and officers read a group's; officers set and clear its own
    "GET /api/groups/{group_id}/envelope-limits": (
        group_members(200, officer=200), simple("GET", "/api/groups/{g}/envelope-limits")),
    "PUT /api/officer/groups/{group_id}/envelope-limits": (
        officers_only(200), simple("PUT", "/api/officer/groups/{g}/envelope-limits",
                                   {"max_fen": 5000, "reason": "村民反映 complaints"})),
    "POST /api/officer/groups/{group_id}/envelope-limits/clear": (
        officers_only(200), _fresh_envelope_limit),
    # governance: legal holds, retention, dual-control unmasking, case export
    "POST /api/officer/legal-holds": (officers_only(201), simple(
        "POST", "/api/officer/legal-holds",
        lambda ctx: {"scope": "group", "scope_id": ctx.gid, "reason": "纪检保全"})),
    "GET /api/officer/legal-holds": (officers_only(200),
                                     simple("GET", "/api/officer/legal-holds")),
    "POST /api/officer/legal-holds/{hold_id}/lift": (officers_only(200), _fresh_hold),
    "GET /api/officer/retention": (officers_only(200), simple("GET", "/api/officer/retention")),
    "POST /api/officer/unmaskings": (officers_only(201), simple(
        "POST", "/api/officer/unmaskings", _unmask_body)),
    "GET /api/officer/unmaskings": (officers_only(200),
                                    simple("GET", "/api/officer/unmaskings")),
    "POST /api/officer/unmaskings/{request_id}/approve": (officers_only(200),
                                                          _unmasking("approve")),
    "POST /api/officer/unmaskings/{request_id}/reject": (officers_only(200),
                                                         _unmasking("reject")),
    "POST /api/officer/unmaskings/{request_id}/reveal": (officers_only(200),
                                                         _unmasking("reveal")),
    "POST /api/officer/cases/{case_id}/export": (officers_only(200), _export_case),
    "POST /api/officer/envelopes/export": (
        officers_only(200), simple("POST", "/api/officer/envelopes/export",
                                   {"request_reference": "纪检函 1", "format": "csv"})),
    # election periods (PAY-3): officers only
    "POST /api/officer/elections": (officers_only(201),
                                    simple("POST", "/api/officer/elections", _election_body)),
    "GET /api/officer/elections": (officers_only(200), simple("GET", "/api/officer/elections")),
    "GET /api/officer/elections/{election_id}": (officers_only(200), _election()),
    "POST /api/officer/elections/{election_id}/cancel": (
        officers_only(200), _election("/cancel", {"reason": "推迟"})),
    "PUT /api/officer/groups/{group_id}/org-unit": (
        officers_only(200), simple("PUT", "/api/officer/groups/{g}/org-unit",
                                   {"org_unit": "逍遥镇"})),
    # archive imports (issue 8): officers only
    "GET /api/officer/archive-imports": (officers_only(200), _archive_import()),
    "GET /api/officer/archive-imports/{import_id}/events": (
        officers_only(200), _archive_import("/{id}/events")),
    # operations
    "GET /healthz": (everyone(200, anonymous=200), simple("GET", "/healthz")),
}

# (route, role) -> why the code answers something else than the table today.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _route_keys(app: Any) -> set[str]:
    return {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items()
            for method in ops}


def test_every_route_is_classified(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/x.db", data_dir=tmp_path),
                     check_migrations=False)
    routes = _route_keys(app)
    missing = sorted(routes - set(MATRIX))
    stale = sorted(set(MATRIX) - routes)
    assert not missing, f"classify these routes in MATRIX: {missing}"
    assert not stale, f"these MATRIX entries name no route: {stale}"
    for key, (cells, _) in MATRIX.items():
        assert set(cells) == set(ROLES), key


def _matches(response: Any, cell: Cell) -> bool:
    status, code = (cell, None) if isinstance(cell, int) else cell
    if response.status_code != status:
        return False
    if code is None:
        return True
    body = response.json()
    return isinstance(body, dict) and body.get("error", {}).get("code") == code


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_matrix(route: str, api: Api, cast: Cast, app: Any) -> None:
    cells, prepare = MATRIX[route]
    ctx = Ctx(api, app, cast)
    ctx.message_id = ctx.post_message("周五下午三点开会")
    mismatches: list[str] = []
    for role in ROLES:
        call = prepare(ctx, role)
        as_ = None if call.headers else ctx.person(role)
        kwargs: dict[str, Any] = {"headers": call.headers}
        if call.json is not None:
            kwargs["json"] = call.json
        r = api.request(call.method, call.path, as_, **kwargs)
        if r.status_code >= 400:  # every error answers in the one error format
            body = r.json()
            assert set(body) == {"error"}, (route, role, body)
            assert set(body["error"]) == {"code", "message", "details"}, (route, role, body)
        if _matches(r, cells[role]) == ((route, role) in KNOWN_BUGS):
            mismatches.append(f"{role}: expected {cells[role]}, got {r.status_code} {r.text[:200]}")
    known = {role: why for (key, role), why in KNOWN_BUGS.items() if key == route}
    unexpected = [m for m in mismatches if m.split(":")[0] not in known]
    assert not unexpected, f"{route}:\n" + "\n".join(unexpected)
    fixed = [m for m in mismatches if m.split(":")[0] in known]
    assert not fixed, f"{route}: known bug now behaves as the table says; drop it from " \
                      f"KNOWN_BUGS: {fixed}"
    if known:
        pytest.xfail("; ".join(f"{role}: {why}" for role, why in known.items()))


# --- the WebSocket ------------------------------------------------------------------------


def test_websocket_by_role(api: Api, cast: Cast) -> None:
    """Anonymous and bad tokens are refused with close code 4401; every account may connect
    and hears of exactly its own groups."""
    client: TestClient = api.client
    for token, code in ((None, "not_authenticated"), ("not-a-token", "invalid_token")):
        url = "/api/ws" if token is None else f"/api/ws?token={token}"
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(url) as ws:
            ws.receive_json()
        assert info.value.code == 4401
        assert info.value.reason == code
    for role in ROLES[1:]:
        person = cast[role]
        with client.websocket_connect(f"/api/ws?token={person.token}") as ws:
            hello = ws.receive_json()
        assert hello["type"] == "hello"
        assert hello["payload"]["account_id"] == person.id
        in_group = role not in ("outsider", "officer")
        assert hello["payload"]["groups"] == ([cast.group["id"]] if in_group else []), role
    # The header works as well as the query parameter.
    with client.websocket_connect("/api/ws", headers=cast.member.auth) as ws:
        assert ws.receive_json()["payload"]["account_id"] == cast.member.id
