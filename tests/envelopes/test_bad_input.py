"""The issue's bad input: each a documented error, and nothing moves in the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from qunguan.kernel.clock import FixedClock
from tests.conftest import Api, Cast, error_code
from tests.envelopes.conftest import (
    assert_ledger_consistent,
    balance,
    claim,
    send,
    snapshot,
    topup,
)

SENDS: list[tuple[str, dict[str, Any], int, str]] = [
    ("zero", {"total_fen": 0, "parts": 1}, 422, "invalid_request"),
    ("negative", {"total_fen": -100, "parts": 1}, 422, "invalid_request"),
    ("fractional fen", {"total_fen": 100.5, "parts": 1}, 422, "invalid_request"),
    ("float fen", {"total_fen": 100.0, "parts": 1}, 422, "invalid_request"),
    ("string fen", {"total_fen": "100", "parts": 1}, 422, "invalid_request"),
    ("zero parts", {"total_fen": 100, "parts": 0}, 422, "invalid_request"),
    ("negative parts", {"total_fen": 100, "parts": -2}, 422, "invalid_request"),
    ("unknown split", {"total_fen": 100, "parts": 1, "split": "random"}, 422,
     "invalid_request"),
    ("above the limit", {"total_fen": 20_001, "parts": 1}, 422, "envelope_over_limit"),
    ("more parts than members", {"total_fen": 600, "parts": 6}, 422, "too_many_parts"),
    ("more parts than fen", {"total_fen": 3, "parts": 4}, 422, "too_many_parts"),
    ("more than the wallet holds", {"total_fen": 19_000, "parts": 2}, 409,
     "insufficient_funds"),
    ("uneven fixed split", {"total_fen": 100, "parts": 3, "split": "fixed"}, 422,
     "uneven_split"),
]


@pytest.mark.parametrize(("what", "body", "status", "code"), SENDS,
                         ids=[s[0] for s in SENDS])
def test_bad_sends_move_nothing(api: Api, cast: Cast, app: Any, what: str,
                                body: dict[str, Any], status: int, code: str) -> None:
    topup(api, cast.founder, 10_000)
    before = snapshot(app)
    r = send(api, cast.founder, cast.group["id"], **{"split": "lucky", **body})
    assert r.status_code == status, r.text
    assert error_code(r) == code
    assert snapshot(app) == before
    assert balance(app, cast.founder) == 10_000


def test_send_without_idempotency_key(api: Api, cast: Cast, app: Any) -> None:
    topup(api, cast.founder, 10_000)
    before = snapshot(app)
    r = api.post(f"/api/groups/{cast.group['id']}/envelopes", as_=cast.founder,
                 json={"total_fen": 100, "parts": 1})
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    assert snapshot(app) == before


def test_send_to_a_group_the_sender_is_not_in(api: Api, cast: Cast, app: Any) -> None:
    topup(api, cast.outsider, 10_000)
    before = snapshot(app)
    r = send(api, cast.outsider, cast.group["id"], 100, 1)
    assert r.status_code == 404
    assert error_code(r) == "not_found"
    r = send(api, cast.outsider, 987_654, 100, 1)
    assert r.status_code == 404
    assert error_code(r) == "not_found"
    assert snapshot(app) == before


def test_unverified_member_cannot_send_or_claim(api: Api, cast: Cast, app: Any) -> None:
    topup(api, cast.founder, 10_000)
    envelope = send(api, cast.founder, cast.group["id"], 500, 2).json()
    before = snapshot(app)
    r = send(api, cast.newcomer, cast.group["id"], 100, 1)
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"
    r = claim(api, cast.newcomer, envelope["id"])
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"
    assert snapshot(app) == before


def test_daily_total(api: Api, cast: Cast, app: Any) -> None:
    topup(api, cast.founder, 200_000)
    for _ in range(5):
        assert send(api, cast.founder, cast.group["id"], 20_000, 2).status_code == 201
    before = snapshot(app)
    r = send(api, cast.founder, cast.group["id"], 1, 1)
    assert r.status_code == 409
    assert error_code(r) == "envelope_daily_limit"
    assert r.json()["error"]["details"]["sent_fen"] == 100_000
    assert snapshot(app) == before


@pytest.mark.parametrize("case", ["expired", "fully claimed", "twice", "outsider",
                                  "no such envelope"])
def test_bad_claims_move_nothing(api: Api, cast: Cast, app: Any, clock: FixedClock,
                                 case: str) -> None:
    topup(api, cast.founder, 10_000)
    envelope = send(api, cast.founder, cast.group["id"], 300, 1).json()
    who, envelope_id = cast.member, envelope["id"]
    if case == "expired":
        clock.advance(seconds=app.state.settings.envelope_expiry_seconds + 1)
        expected = (409, "envelope_expired")
    elif case == "fully claimed":
        assert claim(api, cast.member2, envelope_id).status_code == 200
        expected = (409, "envelope_empty")
    elif case == "twice":
        envelope_id = send(api, cast.founder, cast.group["id"], 300, 2).json()["id"]
        assert claim(api, cast.member, envelope_id).status_code == 200
        expected = (409, "already_claimed")
    elif case == "outsider":
        who, expected = cast.outsider, (404, "not_found")
    else:
        envelope_id, expected = 987_654, (404, "not_found")
    before = snapshot(app)
    r = claim(api, who, envelope_id)
    assert (r.status_code, error_code(r)) == expected, r.text
    assert snapshot(app) == before
    assert_ledger_consistent(app)
