"""Many members claim one envelope at once, on the real production database: exactly as
many succeed as there are parts, and the amounts sum to the total."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.cast import Person, resident_id
from tests.conftest import Api, Cast, error_code, join_by_invitation, register, verify
from tests.envelopes.conftest import assert_ledger_consistent, send, topup

CLIENTS = 40
PARTS = 20


def _claimers(api: Api, cast: Cast, n: int) -> list[Person]:
    group = api.get(f"/api/groups/{cast.group['id']}", as_=cast.founder).json()
    people = []
    for i in range(n):
        person = Person(f"claimer{i}", f"1380000{i:04d}", f"抢红包{i}", "公孙抢包",
                        resident_id("110105", "19880808", f"{i:03d}"))
        register(api, person)
        verify(api, person)
        join_by_invitation(api, group, cast.founder, person)
        people.append(person)
    return people


@pytest.mark.parametrize("split", ["lucky", "fixed"])
def test_concurrent_claims(api: Api, cast: Cast, app: Any, backend: str, split: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises every writer (BEGIN IMMEDIATE): no race to test")
    people = _claimers(api, cast, CLIENTS)
    topup(api, cast.founder, 10_000)
    envelope = send(api, cast.founder, cast.group["id"], 2000, PARTS, split=split).json()
    barrier = threading.Barrier(CLIENTS)

    def grab(person: Person) -> Any:
        barrier.wait(timeout=60)
        return api.post(f"/api/envelopes/{envelope['id']}/claim", as_=person)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        responses = list(pool.map(grab, people))
    won = [r for r in responses if r.status_code == 200]
    lost = [r for r in responses if r.status_code != 200]
    assert len(won) == PARTS, [r.text for r in lost if r.status_code != 409]
    assert all(r.status_code == 409 and error_code(r) == "envelope_empty" for r in lost)
    assert sum(r.json()["amount_fen"] for r in won) == 2000
    assert all(r.json()["amount_fen"] >= 1 for r in won)
    shown = api.get(f"/api/envelopes/{envelope['id']}", as_=cast.founder).json()
    assert len(shown["claims"]) == PARTS
    assert shown["remaining_parts"] == 0
    assert len({c["account_id"] for c in shown["claims"]}) == PARTS
    assert_ledger_consistent(app)


def _at_once(n: int, fn: Any) -> list[Any]:
    barrier = threading.Barrier(n)

    def go(i: int) -> Any:
        barrier.wait(timeout=60)
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


def test_concurrent_sends_keep_the_daily_limit(api: Api, cast: Cast, app: Any,
                                               backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises every writer (BEGIN IMMEDIATE): no race to test")
    settings = app.state.settings
    each, cap = settings.envelope_max_fen, settings.envelope_daily_max_fen
    assert topup(api, cast.founder, each * 10).status_code == 201
    responses = _at_once(10, lambda i: send(api, cast.founder, cast.group["id"], each, 2))
    won = [r for r in responses if r.status_code == 201]
    assert len(won) == cap // each, [r.text for r in responses]
    assert all(error_code(r) == "envelope_daily_limit" for r in responses
               if r.status_code != 201)
    assert_ledger_consistent(app)


def test_one_key_two_bodies_at_once(api: Api, cast: Cast, app: Any, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises every writer (BEGIN IMMEDIATE): no race to test")
    assert topup(api, cast.founder, 10_000).status_code == 201
    bodies = [(100, 2), (5000, 4)]
    responses = _at_once(2, lambda i: send(api, cast.founder, cast.group["id"], *bodies[i],
                                            key="same-key-twice"))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 409], [r.text for r in responses]
    [refused] = [r for r in responses if r.status_code == 409]
    assert error_code(refused) == "idempotency_key_reused"
    assert_ledger_consistent(app)
