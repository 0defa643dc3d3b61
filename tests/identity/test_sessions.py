"""Login, rate limiting, bearer tokens and logout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from qunguan.config import Settings
from qunguan.identity.models import AuthToken, LoginAttempt
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.cast import Person
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.identity.conftest import account_row


def _login(api: Api, phone: str, password: str) -> Any:
    return api.post("/api/sessions", json={"phone": phone, "password": password})


def _attempts(app: Any) -> int:
    uow = app.state.uows()
    try:
        return int(uow.session.scalar(select(func.count(LoginAttempt.id))) or 0)
    finally:
        uow.close()


def test_login_returns_a_token_and_records_it(api: Api, app: Any, cast: Cast,
                                              clock: FixedClock, settings: Settings) -> None:
    before = len(audit_records(app, EventType.LOGGED_IN))
    r = _login(api, cast.member.phone, cast.member.password)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"token", "expires_at", "account"}
    assert len(body["token"]) >= 32
    assert body["account"]["id"] == cast.member.id
    assert "phone" not in body["account"]
    expires = clock.now() + timedelta(seconds=settings.token_ttl_seconds)
    assert body["expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M:%S"))
    me = api.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == cast.member.id

    audits = audit_records(app, EventType.LOGGED_IN)
    assert len(audits) == before + 1
    assert audits[-1].acting_id == cast.member.id
    assert audits[-1].subject_type == "session"
    uow = app.state.uows()
    try:
        token_row = uow.session.get(AuthToken, int(audits[-1].subject_id or 0))
        assert token_row is not None
        assert token_row.account_id == cast.member.id
        assert body["token"] not in token_row.token_hash  # only the hash is stored
    finally:
        uow.close()
    assert outbox_events(app, EventType.LOGGED_IN)[-1].payload == {
        "account_id": cast.member.id, "account_ids": [cast.member.id]}


def test_wrong_password_is_refused_and_the_failure_persists(api: Api, app: Any,
                                                             cast: Cast) -> None:
    logins = len(audit_records(app, EventType.LOGGED_IN))
    r = _login(api, cast.member.phone, "not-the-password")
    assert r.status_code == 401
    assert error_code(r) == "invalid_credentials"
    # The error rolled nothing back that should stay: the audit row and the counted attempt.
    [failed] = audit_records(app, EventType.LOGIN_FAILED)
    # Anonymous attempt: recorded by the system account, the member only its target.
    assert failed.acting_id not in {p.id for p in cast.values()}
    assert (failed.subject_type, failed.subject_id) == ("account", str(cast.member.id))
    assert failed.source_ip == "testclient"
    assert _attempts(app) == 1
    [event] = outbox_events(app, EventType.LOGIN_FAILED)
    assert event.payload["account_id"] == cast.member.id
    assert len(audit_records(app, EventType.LOGGED_IN)) == logins  # no session was made


def test_unknown_phone_is_refused_alike(api: Api, app: Any, cast: Cast) -> None:
    r = _login(api, "13900000000", cast.member.password)
    assert r.status_code == 401
    assert error_code(r) == "invalid_credentials"
    [failed] = audit_records(app, EventType.LOGIN_FAILED)
    assert account_row(app, failed.acting_id).kind == "system"
    assert failed.subject_id is None
    assert _attempts(app) == 1


def test_invalid_phone_on_login(api: Api, cast: Cast) -> None:
    r = _login(api, "not-a-phone", "whatever-password")
    assert r.status_code == 422
    assert error_code(r) == "invalid_phone"


def test_rate_limit_after_too_many_failures(api: Api, app: Any, cast: Cast,
                                            settings: Settings, clock: FixedClock) -> None:
    person = cast.member
    for _ in range(settings.login_max_failures):
        r = _login(api, person.phone, "wrong-password")
        assert error_code(r) == "invalid_credentials"
    r = _login(api, person.phone, person.password)  # even the right password
    assert r.status_code == 429
    assert error_code(r) == "too_many_attempts"
    assert r.json()["error"]["details"] == {"retry_after": settings.login_window_seconds}
    assert len(audit_records(app, EventType.LOGIN_FAILED)) == settings.login_max_failures
    # Another number from the same address is not affected by this number's limit.
    assert _login(api, cast.member2.phone, cast.member2.password).status_code == 201

    clock.advance(seconds=settings.login_window_seconds - 1)
    assert error_code(_login(api, person.phone, person.password)) == "too_many_attempts"
    clock.advance(seconds=1)  # the first failures leave the window
    r = _login(api, person.phone, person.password)
    assert r.status_code == 201, r.text


def test_rate_limit_counts_unknown_phones(api: Api, app: Any, settings: Settings,
                                          clock: FixedClock) -> None:
    phone = "13922229999"
    for _ in range(settings.login_max_failures):
        assert error_code(_login(api, phone, "wrong-password")) == "invalid_credentials"
    assert error_code(_login(api, phone, "wrong-password")) == "too_many_attempts"
    # Registering that number now does not lift the limit on it.
    r = api.post("/api/accounts", json={"phone": phone, "password": "right-password",
                                        "display_name": "迟到者"})
    assert r.status_code == 201, r.text
    assert error_code(_login(api, phone, "right-password")) == "too_many_attempts"
    clock.advance(seconds=settings.login_window_seconds)
    assert _login(api, phone, "right-password").status_code == 201


def test_rate_limit_per_address(api: Api, app: Any, cast: Cast, settings: Settings) -> None:
    settings.login_max_failures_per_address = 3
    for n in range(3):
        assert error_code(_login(api, f"1390000000{n}", "wrong-password")) == (
            "invalid_credentials")
    r = _login(api, cast.member.phone, cast.member.password)
    assert r.status_code == 429
    assert error_code(r) == "too_many_attempts"


def test_closed_account_cannot_log_in(api: Api, app: Any, cast: Cast) -> None:
    r = api.post(f"/api/officer/accounts/{cast.member2.id}/blacklist", as_=cast.officer,
                 json={"reason": "冒用他人身份"})
    assert r.status_code == 201, r.text
    r = _login(api, cast.member2.phone, cast.member2.password)
    assert r.status_code == 403
    assert error_code(r) == "account_closed"


# --- tokens ------------------------------------------------------------------------------


def test_missing_token(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}):
        r = api.get("/api/me", headers=headers)
        assert r.status_code == 401
        assert error_code(r) == "not_authenticated"


def test_garbage_token(api: Api, cast: Cast) -> None:
    r = api.get("/api/me", headers={"Authorization": "Bearer not-a-real-token"})
    assert r.status_code == 401
    assert error_code(r) == "invalid_token"


def test_expired_token(api: Api, cast: Cast, clock: FixedClock, settings: Settings) -> None:
    clock.advance(seconds=settings.token_ttl_seconds - 1)
    assert api.get("/api/me", as_=cast.member).status_code == 200
    clock.advance(seconds=1)
    r = api.get("/api/me", as_=cast.member)
    assert r.status_code == 401
    assert error_code(r) == "token_expired"


def test_logout_revokes_the_token(api: Api, app: Any, cast: Cast, clock: FixedClock) -> None:
    other = Person("member-again", cast.member.phone, "", None, None, cast.member.password,
                   id=cast.member.id)
    r = _login(api, other.phone, other.password)
    other.token = r.json()["token"]

    clock.advance(seconds=5)
    r = api.delete("/api/sessions/current", as_=cast.member)
    assert r.status_code == 204
    r = api.get("/api/me", as_=cast.member)
    assert r.status_code == 401
    assert error_code(r) == "invalid_token"
    r = api.delete("/api/sessions/current", as_=cast.member)
    assert error_code(r) == "invalid_token"
    # Only that session ends: the member's other token still works.
    assert api.get("/api/me", as_=other).status_code == 200

    [audit] = audit_records(app, EventType.LOGGED_OUT)
    assert audit.acting_id == cast.member.id
    assert audit.subject_type == "session"
    [event] = outbox_events(app, EventType.LOGGED_OUT)
    assert event.payload == {"account_id": cast.member.id, "session_id": int(audit.subject_id
                                                                             or 0),
                             "account_ids": [cast.member.id]}
    uow = app.state.uows()
    try:
        row = uow.session.get(AuthToken, int(audit.subject_id or 0))
        assert row is not None
        assert row.revoked_at == clock.now()
    finally:
        uow.close()


def test_logout_needs_a_token(api: Api) -> None:
    r = api.delete("/api/sessions/current")
    assert r.status_code == 401
    assert error_code(r) == "not_authenticated"
