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
