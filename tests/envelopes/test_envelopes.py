"""Red envelopes through the API: top-up, send, claim, show; the ledger, audit and events."""

from __future__ import annotations

from typing import Any

from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.envelopes.conftest import (
    assert_ledger_consistent,
    balance,
    claim,
    new_key,
    send,
    snapshot,
    topup,
)


def test_topup_fills_the_wallet_via_the_sandbox(api: Api, cast: Cast, app: Any) -> None:
    r = topup(api, cast.founder, 5000)
    assert r.status_code == 201, r.text
    assert r.json() == {"balance_fen": 5000, "balance_yuan": "50.00", "provider": "sandbox",
                        "sandbox": True}
    assert api.get("/api/me/wallet", as_=cast.founder).json()["balance_fen"] == 5000
    [record] = audit_records(app, EventType.WALLET_TOPPED_UP)
    assert record.acting_id == cast.founder.id
    assert record.extra["amount_fen"] == 5000
    assert outbox_events(app, EventType.WALLET_TOPPED_UP)[0].payload["account_ids"] == [
        cast.founder.id]
    assert_ledger_consistent(app)


def test_topup_retry_returns_the_first_result(api: Api, cast: Cast, app: Any) -> None:
    key = new_key()
    first = topup(api, cast.founder, 700, key)
    again = topup(api, cast.founder, 700, key)
    assert first.status_code == again.status_code == 201
    assert again.json()["balance_fen"] == 700
    assert balance(app, cast.founder) == 700
    r = topup(api, cast.founder, 800, key)
    assert r.status_code == 409
    assert error_code(r) == "idempotency_key_reused"
    assert balance(app, cast.founder) == 700


def test_unverified_cannot_topup(api: Api, cast: Cast, app: Any) -> None:
    r = topup(api, cast.newcomer, 700)
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"


def test_send_and_claim_lucky(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    topup(api, cast.founder, 10_000)
    r = send(api, cast.founder, gid, 1000, 3)
    assert r.status_code == 201, r.text
    envelope = r.json()
    assert envelope["sandbox"] is True
    assert envelope["remaining_parts"] == 3
    assert balance(app, cast.founder) == 9000
    [record] = audit_records(app, EventType.ENVELOPE_SENT)
    assert record.acting_id == cast.founder.id
    assert record.group_id == gid
    assert record.extra["total_fen"] == 1000
    assert record.extra["parts"] == 3
    [event] = outbox_events(app, EventType.ENVELOPE_SENT)
    assert event.group_id == gid
    assert event.payload["envelope_id"] == envelope["id"]

    amounts = {}
    for person in (cast.member, cast.member2, cast.admin):
        r = claim(api, person, envelope["id"])
        assert r.status_code == 200, r.text
        amounts[person.id] = r.json()["amount_fen"]
        assert amounts[person.id] >= 1
        assert balance(app, person) == amounts[person.id]
    assert sum(amounts.values()) == 1000
    shown = api.get(f"/api/envelopes/{envelope['id']}", as_=cast.member).json()
    assert shown["status"] == "claimed"
    assert shown["remaining_parts"] == 0
    assert {c["display_name"]: c["amount_fen"] for c in shown["claims"]} == {
        cast.member.display_name: amounts[cast.member.id],
        cast.member2.display_name: amounts[cast.member2.id],
        cast.admin.display_name: amounts[cast.admin.id]}
    assert len(audit_records(app, EventType.ENVELOPE_CLAIMED)) == 3
    assert all(e.group_id == gid for e in outbox_events(app, EventType.ENVELOPE_CLAIMED))
    r = claim(api, cast.founder, envelope["id"])
    assert r.status_code == 409
    assert error_code(r) == "envelope_empty"
    assert_ledger_consistent(app)


def test_fixed_split_pays_equal_parts(api: Api, cast: Cast, app: Any) -> None:
    topup(api, cast.founder, 10_000)
    envelope = send(api, cast.founder, cast.group["id"], 900, 3, split="fixed").json()
    got = [claim(api, p, envelope["id"]).json()["amount_fen"]
           for p in (cast.member, cast.member2, cast.admin)]
    assert got == [300, 300, 300]


def test_send_retry_returns_the_first_envelope(api: Api, cast: Cast, app: Any) -> None:
    topup(api, cast.founder, 10_000)
    key = new_key()
    first = send(api, cast.founder, cast.group["id"], 500, 2, key=key)
    again = send(api, cast.founder, cast.group["id"], 500, 2, key=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert balance(app, cast.founder) == 9500
    r = send(api, cast.founder, cast.group["id"], 600, 2, key=key)
    assert r.status_code == 409
    assert error_code(r) == "idempotency_key_reused"
    assert balance(app, cast.founder) == 9500
    assert len(audit_records(app, EventType.ENVELOPE_SENT)) == 1


def test_claim_retry_with_its_key_returns_the_first_claim(api: Api, cast: Cast,
                                                           app: Any) -> None:
    topup(api, cast.founder, 10_000)
    envelope = send(api, cast.founder, cast.group["id"], 500, 2).json()
    first = claim(api, cast.member, envelope["id"], key="claim-1")
    again = claim(api, cast.member, envelope["id"], key="claim-1")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    r = claim(api, cast.member, envelope["id"])
    assert r.status_code == 409
    assert error_code(r) == "already_claimed"
    assert balance(app, cast.member) == first.json()["amount_fen"]


def test_envelope_to_one_member(api: Api, cast: Cast, app: Any) -> None:
    topup(api, cast.founder, 10_000)
    r = send(api, cast.founder, cast.group["id"], 666, 1, recipient_id=cast.member.id)
    assert r.status_code == 201, r.text
    envelope = r.json()
    r = claim(api, cast.member2, envelope["id"])
    assert r.status_code == 403
    assert error_code(r) == "not_recipient"
    r = claim(api, cast.member, envelope["id"])
    assert r.status_code == 200
    assert r.json()["amount_fen"] == 666
    r = send(api, cast.founder, cast.group["id"], 666, 2, recipient_id=cast.member.id)
    assert r.status_code == 422
    assert error_code(r) == "too_many_parts"
    r = send(api, cast.founder, cast.group["id"], 666, 1, recipient_id=cast.outsider.id)
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"


def test_outsiders_cannot_see_an_envelope(api: Api, cast: Cast, app: Any) -> None:
    topup(api, cast.founder, 10_000)
    envelope = send(api, cast.founder, cast.group["id"], 500, 2).json()
    r = api.get(f"/api/envelopes/{envelope['id']}", as_=cast.outsider)
    assert r.status_code == 404
    assert error_code(r) == "not_found"
    r = api.get("/api/envelopes/999999", as_=cast.member)
    assert r.status_code == 404


def test_expired_claim_refused(api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    topup(api, cast.founder, 10_000)
    envelope = send(api, cast.founder, cast.group["id"], 500, 2).json()
    before = snapshot(app)
    clock.advance(seconds=app.state.settings.envelope_expiry_seconds)
    r = claim(api, cast.member, envelope["id"])
    assert r.status_code == 409
    assert error_code(r) == "envelope_expired"
    assert snapshot(app) == before
