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
