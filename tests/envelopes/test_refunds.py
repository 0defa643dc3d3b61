"""The refund worker: expired remainders go back to the sender exactly once, even when it
runs twice or two workers run at once (fake clock)."""

from __future__ import annotations

import threading
from typing import Any

from qunguan.envelopes.worker import refund_expired
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, outbox_events
from tests.envelopes.conftest import assert_ledger_consistent, balance, claim, send, topup


def _expire(app: Any, clock: FixedClock) -> None:
    clock.advance(seconds=app.state.settings.envelope_expiry_seconds)


def test_remainder_refunded_once(api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    topup(api, cast.founder, 10_000)
    envelope = send(api, cast.founder, cast.group["id"], 1000, 4).json()
    got = claim(api, cast.member, envelope["id"]).json()["amount_fen"]
    assert refund_expired(app.state.uows) == 0  # not yet expired
    _expire(app, clock)
    assert refund_expired(app.state.uows) == 1
    assert refund_expired(app.state.uows) == 0  # a second pass finds nothing to do
    assert balance(app, cast.founder) == 10_000 - got
    shown = api.get(f"/api/envelopes/{envelope['id']}", as_=cast.founder).json()
    assert shown["status"] == "refunded"
    assert shown["refunded_fen"] == 1000 - got
    [record] = audit_records(app, EventType.ENVELOPE_REFUNDED)
    assert record.extra["amount_fen"] == 1000 - got
    assert len(outbox_events(app, EventType.ENVELOPE_REFUNDED)) == 1
    assert_ledger_consistent(app)


def test_fully_claimed_is_not_refunded(api: Api, cast: Cast, app: Any,
                                       clock: FixedClock) -> None:
    topup(api, cast.founder, 10_000)
    envelope = send(api, cast.founder, cast.group["id"], 200, 1).json()
    assert claim(api, cast.member, envelope["id"]).status_code == 200
    _expire(app, clock)
    assert refund_expired(app.state.uows) == 0
    assert balance(app, cast.founder) == 9800


def test_concurrent_workers_refund_once(api: Api, cast: Cast, app: Any,
                                        clock: FixedClock) -> None:
    topup(api, cast.founder, 10_000)
    for _ in range(3):
        send(api, cast.founder, cast.group["id"], 1000, 2)
    _expire(app, clock)
    barrier = threading.Barrier(4)
    results: list[int] = []

    def worker() -> None:
        barrier.wait(timeout=30)
        results.append(refund_expired(app.state.uows))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(results) == 3
    assert balance(app, cast.founder) == 10_000
    assert len(audit_records(app, EventType.ENVELOPE_REFUNDED)) == 3
    assert_ledger_consistent(app)


def test_failing_envelopes_do_not_starve_the_rest(api: Api, cast: Cast, app: Any,
                                                  clock: FixedClock,
                                                  monkeypatch: Any) -> None:
    """A page of envelopes whose refund keeps failing must not hold back the envelopes after
    it: the pass walks every page."""
    from qunguan.envelopes import actions

    topup(api, cast.founder, 10_000)
    ids = [send(api, cast.founder, cast.group["id"], 100, 1).json()["id"] for _ in range(5)]
    _expire(app, clock)
    real = actions.do_refund_envelope
    broken = set(ids[:3])

    def flaky(uow: Any, *, acting: Any, envelope_id: int) -> int | None:
        if envelope_id in broken:
            raise RuntimeError("provider timeout")
        return real(uow, acting=acting, envelope_id=envelope_id)

    monkeypatch.setattr(actions, "do_refund_envelope", flaky)
    assert refund_expired(app.state.uows, limit=2) == 2  # pages of 2: the first is all broken
    assert balance(app, cast.founder) == 10_000 - 300
    monkeypatch.setattr(actions, "do_refund_envelope", real)
    assert refund_expired(app.state.uows, limit=2) == 3
    assert balance(app, cast.founder) == 10_000
    assert_ledger_consistent(app)


def test_a_restricted_member_cannot_top_up(api: Api, cast: Cast, app: Any) -> None:
    from tests.conftest import error_code
    from tests.enforcement.sanction_helpers import impose

    impose(api, cast.officer, cast.member, "restrict", functions=["red_envelopes"],
           duration_seconds=3600)
    r = topup(api, cast.member, 1000)
    assert r.status_code == 403, r.text
    assert error_code(r) == "restricted"
    assert balance(app, cast.member) == 0
    assert audit_records(app, EventType.WALLET_TOPPED_UP) == []
