"""The vote-buying detector in the screening gate (issue 5 part 5): a send that would itself
complete a pattern during an election is held for review before anyone can claim it, with
the reason shown to the sender; a reviewer releases or refuses it."""

from __future__ import annotations

import json
from typing import Any

from qunguan.enforcement.models import ReviewItem
from qunguan.envelopes import queries
from qunguan.envelopes.detector import VoteBuyingDetector
from qunguan.identity import Account
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from qunguan.screening import ScreeningContext
from qunguan.screening.models import ScreeningHit
from tests.conftest import Api, Cast, audit_records, error_code
from tests.enforcement.review_helpers import drain, rows
from tests.envelopes.conftest import assert_ledger_consistent, balance, claim, send, topup
from tests.envelopes.test_elections import decide, declare

RULE = "envelopes.votebuying"


def _thresholds(app: Any, tmp_path: Any, **values: object) -> None:
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(values))
    app.state.settings.votebuying_thresholds_file = path


def test_a_send_completing_a_fanout_is_held_before_money_moves(
        api: Api, cast: Cast, app: Any, clock: FixedClock, tmp_path: Any) -> None:
    _thresholds(app, tmp_path, fanout_min_recipients=3, fanout_min_total_fen=1000)
    topup(api, cast.founder, 10_000)
    group_id = cast.group["id"]
    # No election over the group: the detector has nothing to say.
    assert send(api, cast.founder, group_id, 4000, 4, split="fixed").json()["status"] == "open"
    declare(api, cast, clock, policy="disclose")
    r = send(api, cast.founder, group_id, 4000, 4, split="fixed")
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["status"] == "held"
    assert "reach most of the group" in held["hold_reason"]  # the rule's reason, to the sender
    assert "选举" not in held["hold_reason"]  # English only: the API's and the audit's
    assert held["hold_reason_zh"].startswith("选举期间，这个红包会使您的红包覆盖群内大多数成员")
    assert held["hold_reason_zh"].endswith("。")
    refused = claim(api, cast.member, held["id"])
    assert error_code(refused) == "envelope_held"
    assert "reason" not in refused.json()["error"]["details"]  # not for other members
    assert api.get(f"/api/envelopes/{held['id']}", as_=cast.member).status_code == 404
    listed = api.get(f"/api/envelopes/{held['id']}", as_=cast.founder).json()
    assert listed["hold_reason"] == held["hold_reason"]
    assert listed["hold_reason_zh"] == held["hold_reason_zh"]
    uow = app.state.uows()
    try:
        def listing(person: Any) -> list[int]:
            viewer = uow.session.get(Account, person.id)
            assert viewer is not None
            return [e.id for e in queries.group_envelopes(uow, viewer=viewer,
                                                          group_id=group_id)]

        assert held["id"] in listing(cast.founder)
        assert held["id"] not in listing(cast.member)
        envelope = queries.access_envelope(uow, viewer=uow.session.get(Account, cast.founder.id),
                                           envelope_id=held["id"])
        assert queries.render(uow, envelope)["hold_reason"] is None  # no viewer named
        assert queries.render(uow, envelope)["hold_reason_zh"] is None
    finally:
        uow.close()
    assert balance(app, cast.founder) == 10_000 - 8000  # in escrow, not claimable
    [hit] = rows(app, ScreeningHit, rule_id=RULE)
    assert hit.action == "hold"
    assert hit.message_id is None
    assert hit.signals[0]["label"] == "fanout"
    [record] = audit_records(app, EventType.ENVELOPE_HELD)
    assert record.extra["rules"] == [RULE]
    drain(app)
    [item] = rows(app, ReviewItem, subject_type="envelope", subject_id=held["id"])
    assert item.rules[0]["rule"] == RULE
    assert item.rules[0]["detector"] == "votebuying"
    assert "of the group's 5 members" in item.rules[0]["explanation"]
    assert item.rules[0]["evidence"]["ledger"][0]["kind"] == "envelope_send"
    decide(api, cast, item.id, "dismiss")  # the reviewer releases it
    drain(app)
    assert claim(api, cast.member, held["id"]).status_code == 200
    assert_ledger_consistent(app)


def test_the_envelope_that_makes_a_split_is_held(api: Api, cast: Cast, app: Any,
                                                clock: FixedClock, tmp_path: Any) -> None:
    _thresholds(app, tmp_path, split_min_envelopes=3, split_min_total_fen=300)
    topup(api, cast.founder, 10_000)
    declare(api, cast, clock, policy="disclose")
    statuses = [send(api, cast.founder, cast.group["id"], 100, 1,
                     recipient_id=cast.member.id).json()["status"] for _ in range(3)]
    assert statuses == ["open", "open", "held"]
    [hit] = rows(app, ScreeningHit, rule_id=RULE)
    assert hit.signals[0]["label"] == "splitting"
    drain(app)
    [item] = rows(app, ReviewItem, subject_type="envelope")
    decide(api, cast, item.id, "remove")  # refused: the money goes back
    drain(app)
    assert balance(app, cast.founder) == 10_000 - 200
    assert_ledger_consistent(app)


def test_off_at_send_leaves_it_to_the_outbox(api: Api, cast: Cast, app: Any,
                                             clock: FixedClock, tmp_path: Any) -> None:
    _thresholds(app, tmp_path, fanout_min_recipients=3, fanout_min_total_fen=1000)
    app.state.settings.votebuying_at_send = False
    topup(api, cast.founder, 10_000)
    declare(api, cast, clock, policy="disclose")
    r = send(api, cast.founder, cast.group["id"], 4000, 4, split="fixed")
    assert r.json()["status"] == "open"
    assert rows(app, ScreeningHit, rule_id=RULE) == []


def test_the_detector_reports_only_what_this_envelope_completes(
        app: Any, cast: Cast, api: Api, clock: FixedClock, tmp_path: Any) -> None:
    _thresholds(app, tmp_path, fanout_min_recipients=3, fanout_min_total_fen=1000)
    declare(api, cast, clock, policy="disclose")
    detector = VoteBuyingDetector()
    uow = app.state.uows()
    try:
        def screen(action: str, total: int, parts: int) -> set[str]:
            context = ScreeningContext(
                action=action, account_id=cast.founder.id, account_verified=True,
                group_id=cast.group["id"], group_category="work", group_tier=1, text="",
                fingerprint="", extra={"total_fen": total, "parts": parts})
            return {s.label for s in detector.screen(uow, context, None)}  # type: ignore[arg-type]

        assert screen("envelope", 4000, 4) == {"fanout"}
        assert screen("envelope", 4000, 2) == set()  # two of five members: no fan-out
        assert screen("envelope", 500, 4) == set()  # under the amount
        assert screen("post", 4000, 4) == set()  # not an envelope
    finally:
        uow.close()
