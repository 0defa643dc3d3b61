"""Registration, the profile and what others see of an account (ID-2, ID-5)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qunguan.identity.models import VerificationStatus
from qunguan.kernel.events import EventType
from tests.cast import Person
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.identity.conftest import account_row, vault_rows

ME_FIELDS = {"id", "display_name", "avatar_text", "kind", "verification", "verified_via",
             "verified_at", "ip_province"}
PUBLIC_FIELDS = {"id", "display_name", "avatar_text", "verified", "officer", "ip_province"}


def _register(api: Api, phone: str = "13922220002", password: str = "long-enough-1",
              display_name: str = "备用壬", **extra: Any) -> Any:
    return api.post("/api/accounts", json={"phone": phone, "password": password,
                                           "display_name": display_name, **extra})


def test_register_seals_the_phone_and_records_the_action(api: Api, app: Any,
                                                          spares: dict[str, Person]) -> None:
    person = spares["spare"]
    r = _register(api, person.phone, display_name=" 备用壬 ", avatar_text="壬")
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == ME_FIELDS  # no phone, no legal name, no ID number
    assert body["display_name"] == "备用壬"  # trimmed
    assert body["avatar_text"] == "壬"
    assert body["kind"] == "member"
    assert body["verification"] == "unverified"
    assert body["verified_via"] is None
    assert body["verified_at"] is None

    row = account_row(app, body["id"])
    assert row.phone_index is not None
    assert len(row.phone_index) == 64
    assert person.phone not in row.phone_index
    assert row.password_hash is not None
    assert row.password_hash.startswith("$argon2id$")
    assert [v.account_id for v in vault_rows(app, "phone")] == [body["id"]]

    [audit] = audit_records(app, EventType.ACCOUNT_REGISTERED)
    assert audit.acting_id == body["id"]
    assert (audit.subject_type, audit.subject_id) == ("account", str(body["id"]))
    assert audit.extra == {"kind": "member"}
    [event] = outbox_events(app, EventType.ACCOUNT_REGISTERED)
    assert event.payload == {"account_id": body["id"], "account_ids": [body["id"]]}


def test_register_accepts_common_phone_spellings_as_one_number(api: Api, app: Any) -> None:
    r = _register(api, "+86 139-2222-0002")
    assert r.status_code == 201, r.text
    for spelling in ("13922220002", "0086 13922220002", "(139) 2222 0002",
                     "１３９２２２２０００２"):  # full-width digits are the same number
        r = _register(api, spelling)
        assert r.status_code == 409, spelling
        assert error_code(r) == "phone_taken"
    assert len(audit_records(app, EventType.ACCOUNT_REGISTERED)) == 1
    r = api.post("/api/sessions", json={"phone": "13922220002", "password": "long-enough-1"})
    assert r.status_code == 201, r.text


def test_duplicate_phone_is_refused_and_writes_nothing(api: Api, app: Any, cast: Cast) -> None:
    before = len(audit_records(app, EventType.ACCOUNT_REGISTERED))
    r = _register(api, cast.member.phone, display_name="另一个我")
    assert r.status_code == 409
    assert error_code(r) == "phone_taken"
    assert len(audit_records(app, EventType.ACCOUNT_REGISTERED)) == before
    assert len(vault_rows(app, "phone")) == len(cast)


@pytest.mark.parametrize("phone", ["12345", "23911110001", "1291111000", "139111100012",
                                   "139-1111-000a", "",
                                   "139٣1110001"])  # Arabic-Indic digit: not an ASCII digit
def test_invalid_phone(api: Api, app: Any, phone: str) -> None:
    r = _register(api, phone)
    assert r.status_code == 422
    assert error_code(r) == "invalid_phone"
    assert audit_records(app, EventType.ACCOUNT_REGISTERED) == []


def test_short_password(api: Api, app: Any) -> None:
    r = _register(api, password="seven77")
    assert r.status_code == 422
    assert error_code(r) == "weak_password"
    assert r.json()["error"]["details"] == {"min_length": 8}
    assert _register(api, password="eight888").status_code == 201


@pytest.mark.parametrize("name", ["公安小李", "Official", "OFFICIAL news", "ｏｆｆｉｃｉａｌ",
                                  "o f f i c i a l", "群管理员", "客服小王", "政府通知",
                                  "网信办", "QunGuan", "Admin"])
def test_reserved_display_names(api: Api, app: Any, name: str) -> None:
    r = _register(api, display_name=name)
    assert r.status_code == 422, name
    assert error_code(r) == "display_name_reserved"
    assert r.json()["error"]["details"]["term"] in {"公安", "official", "管理员", "客服",
                                                      "政府", "网信办", "qunguan", "admin"}
    assert audit_records(app, EventType.ACCOUNT_REGISTERED) == []


@pytest.mark.parametrize("name", ["", "   ", "名" * 33, "tab\tname", "zero\u200bwidth"])
def test_invalid_display_names(api: Api, app: Any, name: str) -> None:
    r = _register(api, display_name=name)
    assert r.status_code == 422, name
    assert error_code(r) == "invalid_display_name"
    assert audit_records(app, EventType.ACCOUNT_REGISTERED) == []


def test_display_name_limits(api: Api) -> None:
    assert _register(api, display_name="名" * 32).status_code == 201
    r = _register(api, "13922220003", display_name="名" * 201)  # beyond the schema's cap
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"


def test_avatar_text_is_at_most_two_characters(api: Api) -> None:
    r = _register(api, avatar_text="三个字")
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    assert r.json()["error"]["details"] == {"fields": ["avatar_text"]}


def test_missing_fields_and_malformed_json(api: Api) -> None:
    r = api.post("/api/accounts", json={"phone": "13922220002", "password": "long-enough-1"})
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    assert [f["loc"] for f in r.json()["error"]["details"]["fields"]] == [
        ["body", "display_name"]]
    r = api.post("/api/accounts", content=b"{not json", headers={
        "content-type": "application/json"})
    assert r.status_code == 400
    assert error_code(r) == "malformed_json"


def test_validation_errors_never_echo_the_input(api: Api) -> None:
    r = api.post("/api/accounts", json={"phone": 13911110001, "password": "x" * 9,
                                        "display_name": "x"})
    assert r.status_code == 422
    assert "13911110001" not in r.text


# --- /api/me ----------------------------------------------------------------------------


def test_get_me(api: Api, cast: Cast) -> None:
    r = api.get("/api/me", as_=cast.member)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == ME_FIELDS
    assert body["id"] == cast.member.id
    assert body["display_name"] == "成员丁"
    assert body["verification"] == "verified"
    assert body["verified_via"] == "resident_id"
    assert body["verified_at"].startswith("2026-11-24T08:00:00")
    assert api.get("/api/me", as_=cast.officer).json()["kind"] == "officer"
    assert api.get("/api/me", as_=cast.newcomer).json()["verification"] == "unverified"


def test_profile_change_is_audited_with_old_and_new(api: Api, app: Any, cast: Cast) -> None:
    r = api.patch("/api/me", as_=cast.member, json={"display_name": "成员丁丁",
                                                    "avatar_text": "丁"})
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "成员丁丁"
    assert r.json()["avatar_text"] == "丁"
    assert api.get("/api/me", as_=cast.member).json()["display_name"] == "成员丁丁"

    [audit] = audit_records(app, EventType.PROFILE_UPDATED)
    assert audit.acting_id == cast.member.id
    assert (audit.subject_type, audit.subject_id) == ("account", str(cast.member.id))
    assert audit.extra == {"display_name": {"old": "成员丁", "new": "成员丁丁"},
                           "avatar_text": {"old": None, "new": "丁"}}
    [event] = outbox_events(app, EventType.PROFILE_UPDATED)
    assert event.payload == {"account_id": cast.member.id, "display_name": "成员丁丁",
                             "avatar_text": "丁", "account_ids": [cast.member.id]}


def test_profile_change_without_a_change_records_nothing(api: Api, app: Any,
                                                          cast: Cast) -> None:
    for body in ({}, {"display_name": "成员丁"}, {"display_name": " 成员丁 "}):
        r = api.patch("/api/me", as_=cast.member, json=body)
        assert r.status_code == 200, r.text
        assert r.json()["display_name"] == "成员丁"
    assert audit_records(app, EventType.PROFILE_UPDATED) == []
    assert outbox_events(app, EventType.PROFILE_UPDATED) == []


def test_profile_change_checks_the_name(api: Api, app: Any, cast: Cast) -> None:
    r = api.patch("/api/me", as_=cast.member, json={"display_name": "公安小李"})
    assert r.status_code == 422
    assert error_code(r) == "display_name_reserved"
    r = api.patch("/api/me", as_=cast.member, json={"display_name": ""})
    assert r.status_code == 422
    assert error_code(r) == "invalid_display_name"
    assert api.get("/api/me", as_=cast.member).json()["display_name"] == "成员丁"
    assert audit_records(app, EventType.PROFILE_UPDATED) == []


def test_profile_needs_a_token(api: Api) -> None:
    r = api.patch("/api/me", json={"display_name": "谁"})
    assert r.status_code == 401
    assert error_code(r) == "not_authenticated"


# --- other accounts ---------------------------------------------------------------------


def test_account_public_shows_no_personal_data(api: Api, cast: Cast) -> None:
    r = api.get(f"/api/accounts/{cast.member.id}", as_=cast.officer)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == PUBLIC_FIELDS
    assert body == {"id": cast.member.id, "display_name": "成员丁", "avatar_text": None,
                    "verified": True, "officer": False, "ip_province": None}
    assert api.get(f"/api/accounts/{cast.member.id}", as_=cast.member).json() == body
    r = api.get(f"/api/accounts/{cast.newcomer.id}", as_=cast.officer)
    assert r.json()["verified"] is False


def test_profiles_cannot_be_enumerated_by_members(api: Api, cast: Cast) -> None:
    """Members meet through the member lists of shared groups, not by walking ids."""
    for viewer, target in ((cast.outsider, cast.member), (cast.member, cast.officer),
                           (cast.member, cast.member2)):
        r = api.get(f"/api/accounts/{target.id}", as_=viewer)
        assert r.status_code == 404
        assert error_code(r) == "not_found"


def test_account_lookup_errors(api: Api, app: Any, cast: Cast) -> None:
    r = api.get(f"/api/accounts/{cast.member.id}")
    assert r.status_code == 401
    assert error_code(r) == "not_authenticated"
    r = api.get("/api/accounts/999999", as_=cast.member)
    assert r.status_code == 404
    assert error_code(r) == "not_found"
    # The system account (actor of automated actions) is not an account anyone can look at.
    system_id = audit_records(app, EventType.ACCOUNT_KIND_CHANGED)[0].acting_id
    assert account_row(app, system_id).kind == "system"
    r = api.get(f"/api/accounts/{system_id}", as_=cast.member)
    assert r.status_code == 404
    assert error_code(r) == "not_found"


def test_verification_status_defaults(api: Api, app: Any, cast: Cast) -> None:
    assert account_row(app, cast.newcomer.id).verification == VerificationStatus.UNVERIFIED
    assert account_row(app, cast.member.id).verification == VerificationStatus.VERIFIED


def test_making_an_officer_is_recorded(api: Api, app: Any, cast: Cast) -> None:
    [audit] = audit_records(app, EventType.ACCOUNT_KIND_CHANGED)
    assert account_row(app, audit.acting_id).kind == "system"
    assert (audit.subject_type, audit.subject_id) == ("account", str(cast.officer.id))
    assert audit.extra == {"old": "member", "new": "officer"}
    [event] = outbox_events(app, EventType.ACCOUNT_KIND_CHANGED)
    assert event.payload == {"account_id": cast.officer.id, "kind": "officer",
                             "account_ids": [cast.officer.id]}
    assert account_row(app, cast.officer.id).kind == "officer"


def _raw(body: dict[str, str]) -> dict[str, Any]:
    # json.dumps escapes a lone surrogate as \\ud800, as a client's JSON would carry it.
    return {"content": json.dumps(body), "headers": {"content-type": "application/json"}}


def test_unstorable_password_is_refused_not_a_500(api: Api) -> None:
    r = api.post("/api/accounts", **_raw({"phone": "13911119998", "password": "abcdefgh\ud800",
                                          "display_name": "某人"}))
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    assert r.json()["error"]["details"]["fields"] == ["password"]
    r = api.post("/api/sessions", **_raw({"phone": "13911119998",
                                          "password": "abcdefgh\ud800"}))
    assert r.status_code == 401
    assert error_code(r) == "invalid_credentials"
    r = api.post("/api/accounts", json={"phone": "13911119998", "password": "abcdefgh",
                                        "display_name": "某\x00人"})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["fields"] == ["display_name"]
