"""Real-name verification with the resident_id and network_id providers (ID-1, ID-3, ID-4)."""

from __future__ import annotations

from typing import Any

import pytest

from qunguan.config import Settings
from qunguan.identity import vault
from qunguan.identity.verification import sign_sandbox_network_token
from qunguan.kernel.events import EventType
from tests.cast import Person, resident_id
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events, register
from tests.identity.conftest import account_row, submit, vault_rows, verification_row


def test_providers_are_listed(api: Api) -> None:
    r = api.get("/api/verification-providers")
    assert r.status_code == 200
    by_name = {p["name"]: p["fields"] for p in r.json()}
    assert by_name == {"resident_id": ["legal_name", "id_number"], "network_id": ["token"],
                       "officer_review": ["legal_name", "id_number"]}


def test_resident_id_verifies_at_once(api: Api, app: Any, spare: Person) -> None:
    r = submit(api, spare)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "account_id", "provider", "status", "submitted_at",
                         "decided_at", "note"}
    assert (body["account_id"], body["provider"], body["status"]) == (
        spare.id, "resident_id", "verified")
    assert body["decided_at"] is not None

    me = api.get("/api/me", as_=spare).json()
    assert (me["verification"], me["verified_via"]) == ("verified", "resident_id")
    account = account_row(app, spare.id)
    row = verification_row(app, body["id"])
    assert account.identity_index is not None
    assert account.identity_index == row.identity_index
    [record] = vault_rows(app, "resident_id")
    assert (record.id, record.account_id) == (row.vault_record_id, spare.id)
    assert record.blind_index == account.identity_index

    [submitted] = audit_records(app, EventType.VERIFICATION_SUBMITTED)
    assert submitted.acting_id == spare.id
    assert (submitted.subject_type, submitted.subject_id) == ("verification", str(body["id"]))
    assert submitted.extra == {"provider": "resident_id", "status": "verified"}
    [verified] = audit_records(app, EventType.ACCOUNT_VERIFIED)
    assert verified.acting_id == spare.id
    assert (verified.subject_type, verified.subject_id) == ("account", str(spare.id))
    assert verified.extra == {"provider": "resident_id", "verification_id": body["id"]}
    [event] = outbox_events(app, EventType.ACCOUNT_VERIFIED)
    assert event.payload == {"account_id": spare.id, "provider": "resident_id",
                             "account_ids": [spare.id]}

    r = api.get("/api/me/verifications", as_=spare)
    assert [v["id"] for v in r.json()] == [body["id"]]


def test_a_verified_account_can_post(api: Api, cast: Cast, spares: dict[str, Person]) -> None:
    newcomer = cast.newcomer
    newcomer.legal_name, newcomer.id_number = spares["late"].legal_name, spares["late"].id_number
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=newcomer, json={"text": "你好"})
    assert error_code(r) == "real_name_required"
    assert submit(api, newcomer).status_code == 201
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=newcomer, json={"text": "你好"})
    assert r.status_code == 201, r.text


# --- resident ID checks --------------------------------------------------------------------

GOOD = resident_id("320102", "19881212", "082")
BAD_CHECK = GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1")

INVALID_IDS = [
    (BAD_CHECK, "checksum"),
    ("110105800101011", "length"),  # first-generation 15-digit number
    (GOOD[:-1], "length"),
    (GOOD + "0", "length"),
    (resident_id("110105", "20261125", "011"), "future_birth_date"),  # FixedClock: 2026-11-24
    (resident_id("110105", "20300101", "011"), "future_birth_date"),
    (resident_id("110105", "19900230", "011"), "birth_date"),  # 30 February
    (resident_id("110105", "19901301", "011"), "birth_date"),  # month 13
    (resident_id("999999", "19900101", "011"), "region"),
    ("11010519800101A011", "format"),
    ("1101051980010101Y", "length"),
    ("11010519800101011Y", "format"),
    ("11010519800101011-", "format"),
    # Unicode digits that are not ASCII digits: refused as format, never a server error.
    ("110105¹98001010110", "format"),
    ("1101051980²1010110", "format"),
    ("110105١٩٨٠0101011" + "0", "format"),
]


@pytest.mark.parametrize(("number", "reason"), INVALID_IDS)
def test_invalid_id_numbers(api: Api, app: Any, spare: Person, number: str,
                            reason: str) -> None:
    r = submit(api, spare, legal_name=spare.legal_name, id_number=number)
    assert r.status_code == 422, r.text
    assert error_code(r) == "invalid_id_number"
    assert r.json()["error"]["details"] == {"reason": reason}
    assert number not in r.text
    assert account_row(app, spare.id).verification == "unverified"
    assert vault_rows(app, "resident_id") == []  # nothing sealed for a refused number
    assert audit_records(app, EventType.VERIFICATION_SUBMITTED) == []


def test_birth_date_today_is_accepted(api: Api, spare: Person) -> None:
    r = submit(api, spare, legal_name=spare.legal_name,
               id_number=resident_id("110105", "20261124", "011"))
    assert r.status_code == 201, r.text


def test_region_created_after_the_birth_year_is_accepted(api: Api, app: Any,
                                                         spares: dict[str, Person]) -> None:
    person = spares["nanshan"]  # 440305 (Nanshan, 1990) on a number of someone born 1975
    register(api, person)
    r = submit(api, person)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "verified"
    # ... and still only once: the blind index sees the same canonical number.
    other = spares["spare"]
    register(api, other)
    r = submit(api, other, legal_name=other.legal_name, id_number=person.id_number)
    assert r.status_code == 409
    assert error_code(r) == "identity_in_use"


def test_spellings_of_one_number_are_one_identity(api: Api, app: Any,
                                                  spares: dict[str, Person]) -> None:
    owner, other = spares["xcheck"], spares["spare"]
    register(api, owner)
    register(api, other)
    assert owner.id_number
    assert owner.id_number.endswith("X")
    r = submit(api, owner, legal_name=owner.legal_name, id_number=owner.id_number.lower())
    assert r.status_code == 201, r.text
    full_width = owner.id_number.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    spaced = " ".join([owner.id_number[:6], owner.id_number[6:14], owner.id_number[14:]])
    for spelling in (owner.id_number, full_width, spaced):
        r = submit(api, other, legal_name=other.legal_name, id_number=spelling)
        assert r.status_code == 409, r.text
        assert error_code(r) == "identity_in_use"


def test_full_width_number_of_a_late_region_is_one_identity(api: Api,
                                                            spares: dict[str, Person]) -> None:
    owner, other = spares["nanshan"], spares["spare"]
    register(api, owner)
    register(api, other)
    assert owner.id_number
    full_width = owner.id_number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert submit(api, owner).status_code == 201
    r = submit(api, other, legal_name=other.legal_name, id_number=full_width)
    assert r.status_code == 409, r.text
    assert error_code(r) == "identity_in_use"


def test_same_identity_on_a_second_account(api: Api, app: Any, cast: Cast,
                                           spare: Person) -> None:
    r = submit(api, spare, legal_name=cast.member.legal_name, id_number=cast.member.id_number)
    assert r.status_code == 409
    assert error_code(r) == "identity_in_use"
    assert account_row(app, spare.id).verification == "unverified"
    assert account_row(app, spare.id).identity_index is None
    assert len(vault_rows(app, "resident_id")) == 6  # the cast's six; nothing new sealed


def test_already_verified(api: Api, app: Any, cast: Cast) -> None:
    r = submit(api, cast.member)
    assert r.status_code == 409
    assert error_code(r) == "already_verified"
    r = submit(api, cast.member, "network_id",
               token=sign_sandbox_network_token("qunguan-network-id-sandbox", "NID-1"))
    assert error_code(r) == "already_verified"


def test_unknown_provider(api: Api, spare: Person) -> None:
    r = submit(api, spare, "passport", legal_name="x", id_number="y")
    assert r.status_code == 404
    assert error_code(r) == "unknown_provider"
    assert r.json()["error"]["details"] == {
        "known": ["network_id", "officer_review", "resident_id"]}


@pytest.mark.parametrize("body", [
    {"provider": "resident_id"},
    {"provider": "resident_id", "legal_name": "皇甫定安"},
    {"provider": "resident_id", "id_number": resident_id("320102", "19881212", "082")},
    {"provider": "resident_id", "legal_name": "  ",
     "id_number": resident_id("320102", "19881212", "082")},
    {"provider": "network_id"},
    {"provider": "officer_review", "legal_name": "皇甫定安"},
    {"legal_name": "皇甫定安", "id_number": resident_id("320102", "19881212", "082")},
    {"provider": "resident_id", "legal_name": 42, "id_number": 42},
])
def test_missing_fields(api: Api, app: Any, spare: Person, body: dict[str, Any]) -> None:
    r = api.post("/api/me/verifications", as_=spare, json=body)
    assert r.status_code == 422, r.text
    assert error_code(r) == "invalid_request"
    assert r.json()["error"]["details"]["fields"]
    assert account_row(app, spare.id).verification == "unverified"


def test_legal_name_too_long(api: Api, spare: Person) -> None:
    r = submit(api, spare, legal_name="名" * 65, id_number=spare.id_number)
    assert r.status_code == 422
    assert error_code(r) == "invalid_legal_name"


def test_verification_needs_a_token(api: Api) -> None:
    r = api.post("/api/me/verifications", json={"provider": "resident_id"})
    assert r.status_code == 401
    assert error_code(r) == "not_authenticated"


# --- network_id (网号/网证) -------------------------------------------------------------------


def _nid(settings: Settings, number: str, result: str = "pass") -> str:
    return sign_sandbox_network_token(settings.network_id_sandbox_secret, number, result)


def test_network_id_verifies(api: Api, app: Any, spare: Person, settings: Settings) -> None:
    r = submit(api, spare, "network_id", token=_nid(settings, "NID-7f3a9c"))
    assert r.status_code == 201, r.text
    assert (r.json()["provider"], r.json()["status"]) == ("network_id", "verified")
    me = api.get("/api/me", as_=spare).json()
    assert (me["verification"], me["verified_via"]) == ("verified", "network_id")
    [audit] = audit_records(app, EventType.ACCOUNT_VERIFIED)
    assert audit.extra == {"provider": "network_id", "verification_id": r.json()["id"]}
    [event] = outbox_events(app, EventType.ACCOUNT_VERIFIED)
    assert event.payload["provider"] == "network_id"


def test_network_id_record_holds_no_plaintext_id(api: Api, app: Any, spare: Person,
                                                 settings: Settings) -> None:
    token = _nid(settings, "NID-7f3a9c")
    assert submit(api, spare, "network_id", token=token).status_code == 201
    [record] = vault_rows(app, "network_id")
    assert record.account_id == spare.id
    assert record.blind_index == account_row(app, spare.id).identity_index
    assert b"NID-7f3a9c" not in record.ciphertext
    uow = app.state.uows()
    try:
        fields = vault.reveal(uow, record.id, acting=spare, purpose="test: vault contents",
                              request_ref="TEST-1")
        uow.commit()
    finally:
        uow.close()
    assert fields == {"token": token, "result": "pass"}
    [read] = audit_records(app, EventType.VAULT_READ)
    assert read.extra["kind"] == "network_id"


@pytest.mark.parametrize("make", [
    lambda s: sign_sandbox_network_token("wrong-secret", "NID-1"),
    lambda s: sign_sandbox_network_token(s, "NID-1")[:-1] + "0",
    lambda s: sign_sandbox_network_token(s, "NID-1").split(".")[0],
    lambda s: sign_sandbox_network_token(s, "NID-1", "fail"),
    lambda s: sign_sandbox_network_token(s, "NID-1", "PASS"),
    lambda s: "garbage",
    lambda s: "a.b.c",
    lambda s: _signed(s, "not base64 json!"),
    lambda s: _signed(s, "eyJyZXN1bHQiOiAicGFzcyJ9"),  # {"result": "pass"}: no nid
    lambda s: _signed(s, "WzFd"),  # [1]: not an object
])
def test_network_id_refusals(api: Api, app: Any, spare: Person, settings: Settings,
                             make: Any) -> None:
    r = submit(api, spare, "network_id", token=make(settings.network_id_sandbox_secret))
    assert r.status_code == 422, r.text
    assert error_code(r) == "verification_failed"
    assert account_row(app, spare.id).verification == "unverified"
    assert vault_rows(app, "network_id") == []


def _signed(secret: str, body: str) -> str:
    import hashlib
    import hmac
    return f"{body}.{hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()}"


def test_same_network_number_on_two_accounts(api: Api, app: Any, cast: Cast, spare: Person,
                                             settings: Settings) -> None:
    assert submit(api, spare, "network_id", token=_nid(settings, "NID-42")).status_code == 201
    r = submit(api, cast.newcomer, "network_id", token=_nid(settings, "NID-42"))
    assert r.status_code == 409
    assert error_code(r) == "identity_in_use"
    assert account_row(app, cast.newcomer.id).verification == "unverified"
    r = submit(api, cast.newcomer, "network_id", token=_nid(settings, "NID-43"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("name", ["某\x00人", "某\x07人", "某\u200b\n人"])
def test_legal_name_with_control_characters_is_refused(api: Api, cast: Cast, name: str) -> None:
    r = api.post("/api/me/verifications", as_=cast.newcomer,
                 json={"provider": "resident_id", "legal_name": name,
                       "id_number": resident_id("110105", "19990909", "099")})
    assert r.status_code == 422
    assert error_code(r) == "invalid_legal_name"
    assert api.get("/api/me", as_=cast.newcomer).json()["verification"] == "unverified"


def test_network_id_refuses_everything_until_configured(api: Api, cast: Cast, app: Any) -> None:
    app.state.settings.network_id_sandbox_secret = None
    token = sign_sandbox_network_token("qunguan-network-id-sandbox", "NID-PUBLIC")
    r = api.post("/api/me/verifications", as_=cast.newcomer,
                 json={"provider": "network_id", "token": token})
    assert r.status_code == 422
    assert error_code(r) == "verification_failed"
    assert r.json()["error"]["details"]["reason"] == "not_configured"
