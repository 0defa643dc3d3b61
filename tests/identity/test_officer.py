"""Officer review, the audited reveal and the blacklist (ID-3, PI-4, EC-5)."""

from __future__ import annotations

from typing import Any

import pytest

from qunguan.config import Settings
from qunguan.identity.verification import sign_sandbox_network_token
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.cast import Person
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events, register
from tests.identity.conftest import account_row, submit, vault_rows, verification_row


@pytest.fixture
def pending(api: Api, cast: Cast, spares: dict[str, Person]) -> dict[str, Any]:
    """The newcomer (a group member) submits an identity for officer review."""
    cast.newcomer.legal_name = spares["late"].legal_name
    cast.newcomer.id_number = spares["late"].id_number
    r = submit(api, cast.newcomer, "officer_review")
    assert r.status_code == 201, r.text
    return dict(r.json())


def _decide(api: Api, by: Person, verification_id: int, approve: bool,
            note: str | None = None) -> Any:
    return api.post(f"/api/officer/verifications/{verification_id}/decision", as_=by,
                    json={"approve": approve, "note": note})


def _reveal(api: Api, by: Person, verification_id: int, purpose: str = "核对身份证件",
            request_ref: str = "REV-2026-001") -> Any:
    return api.post(f"/api/officer/verifications/{verification_id}/reveal", as_=by,
                    json={"purpose": purpose, "request_ref": request_ref})


def test_submission_waits_for_review(api: Api, app: Any, cast: Cast,
                                     pending: dict[str, Any]) -> None:
    assert (pending["provider"], pending["status"]) == ("officer_review", "pending")
    assert pending["decided_at"] is None
    me = api.get("/api/me", as_=cast.newcomer).json()
    assert (me["verification"], me["verified_via"]) == ("pending", None)
    assert account_row(app, cast.newcomer.id).identity_index is None

    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast.newcomer,
                 json={"text": "我来了"})
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"
    assert r.json()["error"]["details"] == {"verification": "pending"}

    [audit] = [a for a in audit_records(app, EventType.VERIFICATION_SUBMITTED)
               if a.acting_id == cast.newcomer.id]
    assert (audit.subject_type, audit.subject_id) == ("verification", str(pending["id"]))
    assert audit.extra == {"provider": "officer_review", "status": "pending"}
    [event] = outbox_events(app, EventType.VERIFICATION_SUBMITTED)
    assert event.payload == {"account_id": cast.newcomer.id, "verification_id": pending["id"],
                             "provider": "officer_review", "account_ids": [cast.newcomer.id]}
    assert not [a for a in audit_records(app, EventType.ACCOUNT_VERIFIED)
                if a.subject_id == str(cast.newcomer.id)]

    # A second submission while one waits is a conflict, whatever the provider.
    r = submit(api, cast.newcomer, "resident_id")
    assert r.status_code == 409
    assert error_code(r) == "conflict"


def test_pending_identity_is_reserved(api: Api, cast: Cast, pending: dict[str, Any],
                                      spare: Person) -> None:
    r = submit(api, spare, legal_name=spare.legal_name, id_number=cast.newcomer.id_number)
    assert r.status_code == 409
    assert error_code(r) == "identity_in_use"


def test_only_officers_list_and_decide(api: Api, cast: Cast, pending: dict[str, Any]) -> None:
    for person in (cast.member, cast.founder, cast.newcomer):
        r = api.get("/api/officer/verifications", as_=person)
        assert r.status_code == 403
        assert error_code(r) == "forbidden"
        r = _decide(api, person, pending["id"], True)
        assert r.status_code == 403
        assert error_code(r) == "forbidden"
    assert api.get("/api/me", as_=cast.newcomer).json()["verification"] == "pending"
    r = api.get("/api/officer/verifications")
    assert error_code(r) == "not_authenticated"


def test_officer_lists_verifications(api: Api, cast: Cast, pending: dict[str, Any]) -> None:
    r = api.get("/api/officer/verifications", as_=cast.officer)
    assert r.status_code == 200
    assert len(r.json()) == 7  # six resident_id of the cast, and the pending one
    r = api.get("/api/officer/verifications", as_=cast.officer, params={"status": "pending"})
    assert [(v["id"], v["account_id"], v["provider"]) for v in r.json()] == [
        (pending["id"], cast.newcomer.id, "officer_review")]


def test_officer_approves(api: Api, app: Any, cast: Cast, clock: FixedClock,
                          pending: dict[str, Any]) -> None:
    clock.advance(hours=2)
    r = _decide(api, cast.officer, pending["id"], True, note=" 证件一致 ")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["note"]) == ("verified", "证件一致")
    assert body["decided_at"].startswith("2026-11-24T10:00:00")
    me = api.get("/api/me", as_=cast.newcomer).json()
    assert (me["verification"], me["verified_via"]) == ("verified", "officer_review")
    row = verification_row(app, pending["id"])
    assert row.decided_by == cast.officer.id
    assert account_row(app, cast.newcomer.id).identity_index == row.identity_index

    [audit] = [a for a in audit_records(app, EventType.ACCOUNT_VERIFIED)
               if a.subject_id == str(cast.newcomer.id)]
    assert audit.acting_id == cast.officer.id
    assert audit.extra == {"provider": "officer_review", "verification_id": pending["id"],
                           "note": "证件一致"}
    event = outbox_events(app, EventType.ACCOUNT_VERIFIED)[-1]
    assert event.payload == {"account_id": cast.newcomer.id, "verification_id": pending["id"],
                             "account_ids": [cast.newcomer.id]}

    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast.newcomer,
                 json={"text": "我来了"})
    assert r.status_code == 201, r.text

    # Deciding twice is a conflict, either way.
    for approve in (True, False):
        r = _decide(api, cast.officer, pending["id"], approve)
        assert r.status_code == 409
        assert error_code(r) == "conflict"
        assert r.json()["error"]["details"] == {"status": "verified"}


def test_officer_rejects(api: Api, app: Any, cast: Cast, pending: dict[str, Any]) -> None:
    r = _decide(api, cast.officer, pending["id"], False, note="照片模糊")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["note"]) == ("rejected", "照片模糊")
    assert api.get("/api/me", as_=cast.newcomer).json()["verification"] == "rejected"
    assert account_row(app, cast.newcomer.id).identity_index is None
    [audit] = audit_records(app, EventType.VERIFICATION_REJECTED)
    assert (audit.acting_id, audit.subject_id) == (cast.officer.id, str(cast.newcomer.id))
    assert audit.extra == {"provider": "officer_review", "verification_id": pending["id"],
                           "note": "照片模糊"}
    [event] = outbox_events(app, EventType.VERIFICATION_REJECTED)
    assert event.payload == {"account_id": cast.newcomer.id, "verification_id": pending["id"],
                             "account_ids": [cast.newcomer.id]}
    r = _decide(api, cast.officer, pending["id"], True)
    assert error_code(r) == "conflict"
    assert r.json()["error"]["details"] == {"status": "rejected"}

    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast.newcomer,
                 json={"text": "我来了"})
    assert error_code(r) == "real_name_required"
    # A rejected member may try again.
    r = submit(api, cast.newcomer, "resident_id")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "verified"


def test_decision_on_unknown_verification(api: Api, cast: Cast) -> None:
    r = _decide(api, cast.officer, 999999, True)
    assert r.status_code == 404
    assert error_code(r) == "not_found"


def test_officer_may_not_decide_their_own_verification(api: Api, app: Any, cast: Cast,
                                                       spare: Person) -> None:
    from tests.conftest import make_officer

    make_officer(app, spare)  # an officer not yet verified
    r = submit(api, spare, "officer_review")
    assert r.status_code == 201, r.text
    r = _decide(api, spare, r.json()["id"], True)
    assert r.status_code == 403
    assert error_code(r) == "forbidden"
    assert api.get("/api/me", as_=spare).json()["verification"] == "pending"


# --- reveal ------------------------------------------------------------------------------


def test_officer_reveal_is_an_audited_read(api: Api, app: Any, cast: Cast,
                                           pending: dict[str, Any]) -> None:
    r = _reveal(api, cast.officer, pending["id"])
    assert r.status_code == 200, r.text
    assert r.json() == {"legal_name": cast.newcomer.legal_name,
                        "id_number": cast.newcomer.id_number}
    [read] = audit_records(app, EventType.VAULT_READ)
    row = verification_row(app, pending["id"])
    assert read.acting_id == cast.officer.id
    assert (read.subject_type, read.subject_id) == ("vault_record", str(row.vault_record_id))
    assert read.extra == {"purpose": "核对身份证件", "request_ref": "REV-2026-001",
                          "kind": "resident_id", "account_id": cast.newcomer.id}
    [event] = outbox_events(app, EventType.VAULT_READ)
    assert event.payload == {"vault_record_id": row.vault_record_id, "kind": "resident_id",
                             "account_id": cast.newcomer.id, "account_ids": []}
    # Revealing decides nothing.
    assert api.get("/api/me", as_=cast.newcomer).json()["verification"] == "pending"


@pytest.mark.parametrize(("purpose", "request_ref"), [("", "REV-1"), ("   ", "REV-1"),
                                                      ("核对", ""), ("核对", "  ")])
def test_reveal_needs_purpose_and_reference(api: Api, app: Any, cast: Cast,
                                            pending: dict[str, Any], purpose: str,
                                            request_ref: str) -> None:
    r = _reveal(api, cast.officer, pending["id"], purpose, request_ref)
    assert r.status_code == 422
    assert error_code(r) == "purpose_required"
    assert audit_records(app, EventType.VAULT_READ) == []


def test_reveal_is_for_officers_only(api: Api, app: Any, cast: Cast,
                                     pending: dict[str, Any]) -> None:
    for person in (cast.member, cast.newcomer, cast.founder):
        r = _reveal(api, person, pending["id"])
        assert r.status_code == 403
        assert error_code(r) == "forbidden"
        assert cast.newcomer.legal_name not in r.text
    r = api.post(f"/api/officer/verifications/{pending['id']}/reveal",
                 json={"purpose": "x", "request_ref": "y"})
    assert error_code(r) == "not_authenticated"
    r = _reveal(api, cast.officer, 999999)
    assert error_code(r) == "not_found"
    r = api.post(f"/api/officer/verifications/{pending['id']}/reveal", as_=cast.officer,
                 json={"purpose": "核对"})
    assert error_code(r) == "invalid_request"
    assert audit_records(app, EventType.VAULT_READ) == []


def test_reveal_of_a_network_id_verification(api: Api, app: Any, cast: Cast,
                                             spare: Person, settings: Settings) -> None:
    token = sign_sandbox_network_token(settings.network_id_sandbox_secret, "NID-9")
    r = submit(api, spare, "network_id", token=token)
    assert r.status_code == 201, r.text
    r = _reveal(api, cast.officer, r.json()["id"])
    assert r.status_code == 200, r.text
    # Result-only verification: there is no legal name or ID number to reveal.
    assert r.json() == {"legal_name": None, "id_number": None}
    assert len(audit_records(app, EventType.VAULT_READ)) == 1


# --- blacklist ---------------------------------------------------------------------------


def test_blacklist_closes_the_account_and_bars_the_identity(
        api: Api, app: Any, cast: Cast, spares: dict[str, Person]) -> None:
    target = cast.member2
    r = api.post(f"/api/officer/accounts/{target.id}/blacklist", as_=cast.officer,
                 json={"reason": " 冒用他人身份 "})
    assert r.status_code == 201, r.text
    assert r.json()["account_id"] == target.id

    r = api.get("/api/me", as_=target)
    assert r.status_code in (401, 403)
    assert error_code(r) in ("account_closed", "invalid_token")
    account = account_row(app, target.id)
    assert account.closed_at is not None
    assert account.identity_index is None

    [audit] = audit_records(app, EventType.IDENTITY_BLACKLISTED)
    assert (audit.acting_id, audit.subject_type, audit.subject_id) == (
        cast.officer.id, "account", str(target.id))
    assert audit.extra == {"reason": "冒用他人身份"}
    [event] = outbox_events(app, EventType.IDENTITY_BLACKLISTED)
    assert event.payload == {"account_id": target.id, "account_ids": [target.id]}

    # A new account with the same identity is refused on the blind index alone: no vault
    # record is decrypted to decide it.
    fresh = spares["spare"]
    register(api, fresh)
    for provider in ("resident_id", "officer_review"):
        r = submit(api, fresh, provider, legal_name=target.legal_name,
                   id_number=target.id_number)
        assert r.status_code == 403, r.text
        assert error_code(r) == "identity_blacklisted"
    assert audit_records(app, EventType.VAULT_READ) == []
    assert account_row(app, fresh.id).verification == "unverified"
    # The same person cannot come back under a lower-case or spaced spelling either.
    assert target.id_number
    r = submit(api, fresh, legal_name=target.legal_name,
               id_number=f" {target.id_number[:6]} {target.id_number[6:]} ")
    assert error_code(r) == "identity_blacklisted"
    # Nothing of the refused submissions was kept in the vault.
    assert len(vault_rows(app, "resident_id")) == 6


def test_blacklist_network_identity(api: Api, app: Any, cast: Cast, spare: Person,
                                    settings: Settings) -> None:
    token = sign_sandbox_network_token(settings.network_id_sandbox_secret, "NID-77")
    assert submit(api, spare, "network_id", token=token).status_code == 201
    r = api.post(f"/api/officer/accounts/{spare.id}/blacklist", as_=cast.officer,
                 json={"reason": "买卖账号"})
    assert r.status_code == 201, r.text
    r = submit(api, cast.newcomer, "network_id", token=token)
    assert r.status_code == 403
    assert error_code(r) == "identity_blacklisted"


def test_blacklist_refusals(api: Api, app: Any, cast: Cast) -> None:
    r = api.post(f"/api/officer/accounts/{cast.member2.id}/blacklist", as_=cast.member,
                 json={"reason": "x"})
    assert r.status_code == 403
    assert error_code(r) == "forbidden"
    r = api.post(f"/api/officer/accounts/{cast.member2.id}/blacklist", as_=cast.officer,
                 json={"reason": "  "})
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    r = api.post(f"/api/officer/accounts/{cast.newcomer.id}/blacklist", as_=cast.officer,
                 json={"reason": "x"})
    assert r.status_code == 409  # no verified identity to bar
    assert error_code(r) == "conflict"
    r = api.post("/api/officer/accounts/999999/blacklist", as_=cast.officer,
                 json={"reason": "x"})
    assert error_code(r) == "not_found"
    assert audit_records(app, EventType.IDENTITY_BLACKLISTED) == []
    assert api.get("/api/me", as_=cast.member2).status_code == 200
