"""The circuit breaker (issue 4 part 8): a cluster reaching N groups within T minutes is
marked "frequently forwarded" and goes one group at a time, unless a debunk found true
exempts it; officers lift or tighten it; the rule itself is one pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qunguan.cli.main import app as cli_app
from qunguan.config import Settings
from qunguan.identity.models import Account
from qunguan.kernel.events import EventType
from qunguan.messaging import actions as messaging_actions
from qunguan.messaging.models import Message, MessageStatus
from qunguan.rumors import clusters
from qunguan.rumors.breaker import BreakerRule, first_arrivals, trips_at
from qunguan.rumors.evaluation import replay_cascades, repost_group, stream_jsonl
from qunguan.rumors.models import ClusterMember
from tests.conftest import Api, Cast, FixedClock, audit_records, error_code, outbox_events
from tests.rumors.cluster_helpers import (
    RUMOUR,
    UNRELATED,
    cluster_of,
    detail,
    forward,
    more_groups,
    send,
)
from tests.rumors.debunk_helpers import add, drain, message, uow_of

MARK = "rumors.frequently_forwarded"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Three groups within an hour trip it, so the cast's member can spread a rumour."""
    return settings.model_copy(update={"rumors_breaker_groups": 3,
                                       "rumors_breaker_minutes": 60})


def marked(view: dict[str, Any]) -> bool:
    return any(label.get("rule") == MARK for label in view.get("labels") or [])


def spread(api: Api, app: Any, cast: Cast, clock: FixedClock, groups: list[int],
           minutes: float, text: str = RUMOUR) -> list[dict[str, Any]]:
    """Post in the first group, then forward one group at a time every ``minutes``."""
    sent = [send(api, cast.member, groups[0], text)]
    for gid in groups[1:]:
        clock.advance(minutes=minutes)
        [copy] = forward(api, cast.member, sent[-1]["id"], [gid])
        sent.append(copy)
    drain(app)
    return sent


# --- the rule --------------------------------------------------------------------------------


def test_the_rule_counts_first_arrivals_within_the_window() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rule = BreakerRule(groups=3, minutes=60)
    at = [t0, t0 + timedelta(minutes=30), t0 + timedelta(minutes=60)]
    assert trips_at(at, rule) == at[2]  # both ends of the window count
    late = [t0, t0 + timedelta(minutes=30), t0 + timedelta(minutes=61)]
    assert trips_at(late, rule) is None
    assert trips_at([*late, t0 + timedelta(minutes=70)], rule) == t0 + timedelta(minutes=70)
    # Many messages in one group are one arrival.
    pairs = [("a", t0), ("a", t0 + timedelta(minutes=1)), ("b", t0 + timedelta(minutes=2)),
             ("a", t0 - timedelta(minutes=1))]
    assert first_arrivals(pairs) == [t0 - timedelta(minutes=1), t0 + timedelta(minutes=2)]
    assert trips_at(first_arrivals(pairs), rule) is None


# --- the server ------------------------------------------------------------------------------


def test_breaker_trips_at_n_groups_within_t_and_limits_forwards(
        api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    groups = [cast.group["id"], *more_groups(api, cast, 4)]
    sent = spread(api, app, cast, clock, groups[:2], minutes=20)
    cid = cluster_of(app, sent[0]["id"])
    assert cid is not None
    assert detail(api, cast, cid)["cluster"]["breaker_state"] == "none"
    assert not audit_records(app, EventType.CLUSTER_BREAKER_TRIPPED)
    # Unlimited before it trips.
    before = sent[-1]
    clock.advance(minutes=20)
    [third] = forward(api, cast.member, before["id"], [groups[2]])
    drain(app)
    stats = detail(api, cast, cid)["cluster"]
    assert stats["breaker_state"] == "tripped"
    assert stats["breaker_max_targets"] == 1
    [rec] = audit_records(app, EventType.CLUSTER_BREAKER_TRIPPED)
    assert rec.subject_type == "cluster"
    assert rec.subject_id == str(cid)
    assert rec.extra["groups_reached"] == 3
    [ev] = outbox_events(app, EventType.CLUSTER_BREAKER_TRIPPED)
    assert ev.payload["cluster_id"] == cid
    # Every copy carries the visible mark, for every member.
    for m in [*sent, third]:
        assert marked(message(api, cast.member, m["id"]))
    assert not marked(send(api, cast.member, groups[0], UNRELATED))
    # Forwarding to two groups at once is refused, nothing written; one group is fine.
    forwarded_before = len(audit_records(app, EventType.MESSAGE_FORWARDED))
    r = api.post(f"/api/messages/{third['id']}/forward", as_=cast.member,
                 json={"group_ids": groups[3:5], "confirm": True})
    assert r.status_code == 429, r.text
    assert error_code(r) == "forward_limited"
    assert r.json()["error"]["details"] == {"max_targets": 1, "requested": 2,
                                            "cluster_id": cid}
    assert len(audit_records(app, EventType.MESSAGE_FORWARDED)) == forwarded_before
    [fourth] = forward(api, cast.member, sent[0]["id"], [groups[3]])
    drain(app)
    assert marked(message(api, cast.member, fourth["id"]))  # a new copy gets the mark too


def test_slow_spread_does_not_trip_until_the_window_holds_n(
        api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    groups = [cast.group["id"], *more_groups(api, cast, 3)]
    sent = spread(api, app, cast, clock, groups[:3], minutes=40)  # t0, t40, t80
    cid = cluster_of(app, sent[0]["id"])
    assert cid is not None
    assert detail(api, cast, cid)["cluster"]["breaker_state"] == "none"
    clock.advance(minutes=10)  # t90: t40, t80, t90 lie within an hour
    forward(api, cast.member, sent[-1]["id"], [groups[3]])
    drain(app)
    assert detail(api, cast, cid)["cluster"]["breaker_state"] == "tripped"


def test_first_arrivals_count_whatever_order_the_outbox_processes_them(
        api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    """Group A is reached at t0 and again at t100; B at t30, C at t50. If A's later copy is
    processed first, A's first arrival is still t0, so t0, t30 and t50 trip the breaker."""
    a, b, c = [cast.group["id"], *more_groups(api, cast, 2)]
    a0 = send(api, cast.member, a, RUMOUR)
    clock.advance(minutes=30)
    b0 = send(api, cast.member, b, RUMOUR)
    clock.advance(minutes=20)
    c0 = send(api, cast.member, c, RUMOUR)
    clock.advance(minutes=50)
    a1 = send(api, cast.member, a, RUMOUR)
    for m in (a1, b0, c0, a0):  # a delayed worker: A's later copy first
        with uow_of(app) as uow:
            row = uow.session.get(Message, m["id"])
            assert row is not None
            clusters.assign(uow, row)
            uow.commit()
    drain(app)  # the events themselves find their rows already assigned
    cid = cluster_of(app, a0["id"])
    assert cid is not None
    stats = detail(api, cast, cid)["cluster"]
    assert stats["breaker_state"] == "tripped"
    assert stats["groups_first_hour"] == 3
    [rec] = audit_records(app, EventType.CLUSTER_BREAKER_TRIPPED)
    assert rec.subject_id == str(cid)


def test_a_released_message_arrives_when_it_is_released(
        api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    """A copy held for review reaches its group at release: it counts in the window from then,
    not from when it was written."""
    a, b, c = [cast.group["id"], *more_groups(api, cast, 2)]
    a0 = send(api, cast.member, a, RUMOUR)
    clock.advance(minutes=30)
    b0 = send(api, cast.member, b, RUMOUR)
    drain(app)
    with uow_of(app) as uow:  # a copy in C written at t30 but held
        row = uow.session.get(Message, b0["id"])
        assert row is not None
        held = Message(group_id=c, sender_id=row.sender_id, text=row.text, hop=0,
                       fingerprint=row.fingerprint, status=MessageStatus.HELD,
                       created_at=row.created_at)
        uow.session.add(held)
        uow.commit()
        held_id = held.id
    clock.advance(minutes=60)  # released at t90: A t0, B t30, C t90 are not within an hour
    with uow_of(app) as uow:
        officer = uow.session.get(Account, cast.officer.id)
        assert officer is not None
        messaging_actions.do_release_message(uow, acting=officer, message_id=held_id,
                                             reason="checked")
        uow.commit()
    drain(app)
    cid = cluster_of(app, a0["id"])
    assert cid is not None
    assert cluster_of(app, held_id) == cid
    stats = detail(api, cast, cid)["cluster"]
    assert stats["breaker_state"] == "none"
    assert stats["groups_first_hour"] == 2
    with uow_of(app) as uow:
        member = uow.session.get(ClusterMember, held_id)
        assert member is not None
        assert member.created_at == clock.now()


def test_a_debunk_with_verdict_true_exempts_the_cluster(
        api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    checked = add(api, cast, claim=RUMOUR, verdict="true",
                  refutation="经核实，自来水公司确有停水通知。")
    groups = [cast.group["id"], *more_groups(api, cast, 4)]
    sent = spread(api, app, cast, clock, groups[:4], minutes=5)
    cid = cluster_of(app, sent[0]["id"])
    assert cid is not None
    stats = detail(api, cast, cid)["cluster"]
    assert stats["groups_reached"] == 4
    assert stats["breaker_state"] == "none"
    assert stats["exempt_debunk_id"] == checked["id"]
    assert not audit_records(app, EventType.CLUSTER_BREAKER_TRIPPED)
    assert not any(marked(message(api, cast.member, m["id"])) for m in sent)
    forward(api, cast.member, sent[0]["id"], groups[1:3])  # still several at once


def test_officer_tightens_and_lifts_the_breaker_audited(
        api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    groups = [cast.group["id"], *more_groups(api, cast, 3)]
    first = send(api, cast.member, groups[0], RUMOUR)
    cid = cluster_of(app, first["id"])
    assert cid is not None
    path = f"/api/officer/clusters/{cid}/breaker"
    r = api.post(path, as_=cast.member, json={"state": "tripped", "reason": "扩散太快"})
    assert r.status_code == 403
    r = api.post(path, as_=cast.officer, json={"state": "tripped", "reason": ""})
    assert r.status_code == 422
    r = api.post(path, as_=cast.officer,
                 json={"state": "tripped", "max_targets": 2, "reason": "人工核查中"})
    assert r.status_code == 200, r.text
    assert r.json()["breaker_state"] == "tripped"
    assert r.json()["breaker_max_targets"] == 2
    [rec] = audit_records(app, EventType.CLUSTER_BREAKER_SET)
    assert rec.acting_id == cast.officer.id
    assert rec.extra["before"] == {"state": "none", "max_targets": None}
    assert rec.extra["after"] == {"state": "tripped", "max_targets": 2}
    assert rec.extra["reason"] == "人工核查中"
    assert outbox_events(app, EventType.CLUSTER_BREAKER_SET)[0].payload["max_targets"] == 2
    drain(app)
    assert marked(message(api, cast.member, first["id"]))
    r = api.post(f"/api/messages/{first['id']}/forward", as_=cast.member,
                 json={"group_ids": groups[1:4], "confirm": True})
    assert r.status_code == 429
    assert r.json()["error"]["details"]["max_targets"] == 2
    forward(api, cast.member, first["id"], groups[1:3])
    r = api.post(path, as_=cast.officer, json={"state": "lifted", "reason": "官方通知，属实"})
    assert r.status_code == 200, r.text
    assert r.json()["breaker_state"] == "lifted"
    assert len(audit_records(app, EventType.CLUSTER_BREAKER_SET)) == 2
    r = api.post(f"/api/messages/{first['id']}/forward", as_=cast.member,
                 json={"group_ids": groups[1:4], "confirm": True})
    assert r.status_code == 201, r.text
    # Lifted, the automation leaves it alone even though it now spans four groups.
    drain(app)
    assert detail(api, cast, cid)["cluster"]["breaker_state"] == "lifted"
    r = api.post("/api/officer/clusters/999999/breaker", as_=cast.officer,
                 json={"state": "lifted", "reason": "x"})
    assert r.status_code == 404
    assert error_code(r) == "not_found"


# --- the offline replay (qunguan eval cascades) ----------------------------------------------

DATA = Path(__file__).parent / "data"


def test_replay_on_invented_cascades() -> None:
    path = DATA / "cascades" / "ced_cascades_dev.jsonl"
    seen: list[int] = []
    rules = [BreakerRule(groups=3, minutes=60), BreakerRule(groups=3, minutes=1)]
    # A million groups: every repost lands in a group of its own, so the figures are exact.
    outcomes, skipped = replay_cascades(stream_jsonl(path, seen.append), rules,
                                        groups=1_000_000)
    assert sum(seen) == path.stat().st_size
    assert skipped == 1  # the year-less repost
    fast = outcomes[(0, "rumour")]
    assert (fast.events, fast.tripped, fast.minutes_to_trip) == (1, 1, [2.0])
    assert (fast.forwards, fast.forwards_after, fast.forwards_in_tripped) == (4, 2, 4)
    slow = outcomes[(0, "non-rumour")]
    assert (slow.events, slow.tripped, slow.forwards, slow.forwards_after) == (1, 0, 2, 0)
    assert outcomes[(1, "rumour")].tripped == 0  # three groups within a minute: never
    # The group a repost lands in is stable.
    assert repost_group("e", "m") == repost_group("e", "m")


def test_eval_cascades_command_on_the_fixture(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["eval", "cascades", "--data", str(DATA)])
    assert result.exit_code == 0, result.output
    assert "rumour" in result.output
    assert "20 in 60m" in result.output
    result = CliRunner().invoke(cli_app, ["eval", "cascades", "--data", str(tmp_path)])
    assert result.exit_code == 0
    assert "skipping the cascade replay" in result.output
