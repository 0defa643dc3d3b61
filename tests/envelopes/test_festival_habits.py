"""Festival habits in the server: each send on a festival day adds to the sender's total for
that festival season (a refusal takes it back out), each envelope keeps the group's size when
it was sent, and the detectors read last year's totals so that a habitual festival giver's
fan-out is not alerted while a sender without that habit is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from qunguan.enforcement.models import ReviewItem
from qunguan.envelopes.models import Envelope, EnvelopeAlert, EnvelopeFestivalTotal
from qunguan.kernel.clock import FixedClock
from tests.conftest import Api, Cast, login
from tests.enforcement.review_helpers import drain, rows
from tests.envelopes.conftest import assert_ledger_consistent, balance, claim, send, topup
from tests.envelopes.test_elections import decide, declare

SPRING_2027 = datetime(2027, 2, 6, 4, 0, tzinfo=UTC)  # Spring Festival, noon in China


def _to_spring_festival(api: Api, cast: Cast, clock: FixedClock) -> None:
    clock.advance(seconds=(SPRING_2027 - clock.now()).total_seconds())
    for person in cast.values():
        if person.token:  # tokens live a week: log in again after the jump
            login(api, person)


def _totals(app: Any) -> dict[tuple[int, str], tuple[int, int]]:
    uow = app.state.uows()
    try:
        return {(r.sender_id, r.season): (r.total_fen, r.envelopes) for r in
                uow.session.scalars(select(EnvelopeFestivalTotal))}
    finally:
        uow.close()


def _add_last_year(app: Any, sender_id: int, group_id: int, total_fen: int) -> None:
    uow = app.state.uows()
    try:
        uow.session.add(EnvelopeFestivalTotal(sender_id=sender_id, group_id=group_id,
                                              season="spring:2026", total_fen=total_fen,
                                              envelopes=2))
        uow.commit()
    finally:
        uow.close()


def test_festival_totals_and_group_size_are_kept(api: Api, cast: Cast, app: Any,
                                                 clock: FixedClock) -> None:
    topup(api, cast.founder, 10_000)
    ordinary = send(api, cast.founder, cast.group["id"], 1000, 2).json()
    assert _totals(app) == {}  # 24 November: not a festival
    _to_spring_festival(api, cast, clock)
    send(api, cast.founder, cast.group["id"], 1000, 2)
    send(api, cast.founder, cast.group["id"], 600, 3)
    assert _totals(app) == {(cast.founder.id, "spring:2027"): (1600, 2)}
    [row] = rows(app, Envelope, id=ordinary["id"])
    assert row.group_member_count == 5  # founder, admin, two members, the newcomer


def test_a_refused_envelope_leaves_the_habit(api: Api, cast: Cast, app: Any,
                                             clock: FixedClock) -> None:
    _to_spring_festival(api, cast, clock)
    topup(api, cast.founder, 10_000)
    declare(api, cast, clock, policy="hold")
    held = send(api, cast.founder, cast.group["id"], 1000, 2).json()
    assert held["status"] == "held"
    assert _totals(app) == {(cast.founder.id, "spring:2027"): (1000, 1)}
    drain(app)
    [item] = rows(app, ReviewItem, subject_type="envelope", subject_id=held["id"])
    decide(api, cast, item.id, "remove")
    drain(app)
    assert _totals(app) == {(cast.founder.id, "spring:2027"): (0, 0)}
    assert balance(app, cast.founder) == 10_000
    assert_ledger_consistent(app)


def test_habitual_festival_giver_is_not_a_fanout(api: Api, cast: Cast, app: Any,
                                                 clock: FixedClock, tmp_path: Any) -> None:
    path = tmp_path / "thresholds.json"
    path.write_text('{"fanout_min_recipients": 3, "fanout_min_total_fen": 1000, '
                    '"fanout_festival_share": 0.5, "festival_habit_slack_fen": 0}')
    app.state.settings.votebuying_thresholds_file = path
    app.state.settings.votebuying_at_send = False  # the outbox's detectors, after claims
    _to_spring_festival(api, cast, clock)
    declare(api, cast, clock, policy="disclose")
    group_id = cast.group["id"]
    # The founder gave 60 yuan at last year's Spring Festival; the admin gave nothing.
    _add_last_year(app, cast.founder.id, group_id, 6000)
    for giver in (cast.founder, cast.admin):
        topup(api, giver, 20_000)
        r = send(api, giver, group_id, 8000, 4, split="fixed")
        assert r.status_code == 201, r.text
        envelope = r.json()
        claimers = [p for p in (cast.founder, cast.admin, cast.member, cast.member2)
                    if p is not giver]
        for person in claimers:
            assert claim(api, person, envelope["id"]).status_code == 200
        drain(app)
        drain(app)
    alerts = rows(app, EnvelopeAlert)
    assert [(a.pattern, a.sender_id) for a in alerts] == [("fanout", cast.admin.id)]
    # More than twice the habit is no longer habitual: the founder's second envelope alerts.
    envelope = send(api, cast.founder, group_id, 6000, 3, split="fixed").json()
    for person in (cast.admin, cast.member, cast.member2):
        assert claim(api, person, envelope["id"]).status_code == 200
    drain(app)
    drain(app)
    found = {(a.pattern, a.sender_id) for a in rows(app, EnvelopeAlert)}
    assert ("fanout", cast.founder.id) in found
