"""The vote-buying detectors as a pure function of records (PAY-6): each pattern fires on its
case and stays quiet on the normal look-alike next to it."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qunguan.envelopes.votebuying import (
    Alert,
    Claim,
    ElectionInfo,
    EnvelopeRecord,
    Thresholds,
    alert_json,
    detect,
    earlier_seasons,
    festival_season,
    is_festival,
    named_before,
)

VOTE = datetime(2026, 7, 20, 2, 0, tzinfo=UTC)  # no festival near it
GROUP = 1
MEMBERS = list(range(100, 160))  # 60 members
_ids = itertools.count(1)


def election(**kw: object) -> ElectionInfo:
    values: dict[str, object] = {
        "id": 9, "name": "村委会换届", "starts_at": VOTE - timedelta(days=10),
        "ends_at": VOTE + timedelta(days=1), "vote_at": VOTE, "group_ids": frozenset({GROUP})}
    values.update(kw)
    return ElectionInfo(**values)  # type: ignore[arg-type]


def env(sender: int, at: datetime, amount: int, claimers: list[int], parts: int | None = None,
        group: int = GROUP, members: int = 60) -> EnvelopeRecord:
    claims = tuple(Claim(a, amount // max(1, len(claimers)), at + timedelta(minutes=1))
                   for a in claimers)
    return EnvelopeRecord(next(_ids), sender, group, amount, parts or max(1, len(claimers)), at,
                          members, claims)


def patterns(records: list[EnvelopeRecord], sender: int, now: datetime,
             elections: list[ElectionInfo] | None = None,
             t: Thresholds | None = None) -> set[str]:
    found = detect(records, elections if elections is not None else [election()],
                   sender_id=sender, group_id=GROUP, now=now, thresholds=t)
    return {a.pattern for a in found}


def test_candidate_sender_in_the_window() -> None:
    at = VOTE - timedelta(days=3)
    records = [env(7, at, 500, MEMBERS[:3])]
    assert patterns(records, 7, at + timedelta(hours=1),
                    [election(candidates=frozenset({7}))]) == {"candidate"}
    relative = [env(8, at, 500, MEMBERS[:3])]
    found = detect(relative, [election(associates={8: 7})], sender_id=8, group_id=GROUP,
                   now=at + timedelta(hours=1))
    assert [(a.pattern, a.details["role"], a.details["candidate_id"]) for a in found] == [
        ("candidate", "associate", 7)]
    # Outside the window (before the lead), or no election over the group: nothing.
    early = [env(7, VOTE - timedelta(days=60), 500, MEMBERS[:3])]
    assert patterns(early, 7, VOTE - timedelta(days=59),
                    [election(candidates=frozenset({7}))]) == set()
    assert patterns(records, 7, at + timedelta(hours=1), []) == set()


def test_fanout_reaches_most_members() -> None:
    at = VOTE - timedelta(days=2)
    records = [env(5, at, 20_000, MEMBERS[:41])]
    found = detect(records, [election()], sender_id=5, group_id=GROUP,
                   now=at + timedelta(hours=2))
    fanout = [a for a in found if a.pattern == "fanout"]
    assert fanout, found
    assert fanout[0].details["share"] == round(41 / 60, 3)
    assert "41 of the group's 60 members" in fanout[0].explanation
    assert fanout[0].details["timing"]["days_before_vote"] == 2.0
    line = alert_json(fanout[0])
    assert json.loads(json.dumps(line))["pattern"] == "fanout"
    # A birthday envelope to a few members is not a fan-out.
    small = [env(5, at, 2000, MEMBERS[:8])]
    assert "fanout" not in patterns(small, 5, at + timedelta(hours=2))


def test_two_elections_over_a_group_give_one_alert() -> None:
    # A branch election (id 4) and a village election (id 9) cover the group at once: the
    # same fan-out is one alert, the lower election id's, naming the other.
    at = VOTE - timedelta(days=2)
    branch = election(id=4, name="党支部换届")
    records = [env(5, at, 20_000, MEMBERS[:41])]
    found = detect(records, [election(), branch], sender_id=5, group_id=GROUP,
                   now=at + timedelta(hours=2))
    assert [(a.pattern, a.election_id, a.details.get("also_elections")) for a in found] == [
        ("fanout", 4, [9])]
    assert "'村委会换届'" in found[0].explanation
    # The other election's window (its lead from 2.5 days before the vote) holds only the
    # second envelope: the alert naming both stands, whatever its election id.
    late = election(id=4, name="党支部换届", starts_at=VOTE + timedelta(days=27.5),
                    vote_at=VOTE + timedelta(days=35), ends_at=VOTE + timedelta(days=36))
    records = [env(5, VOTE - timedelta(days=3), 1000, MEMBERS[50:55]),
               env(5, at, 20_000, MEMBERS[:41])]
    found = detect(records, [late, election()], sender_id=5, group_id=GROUP,
                   now=at + timedelta(hours=2))
    assert [(a.pattern, a.election_id, a.envelope_ids, a.details.get("also_elections"))
            for a in found] == [("fanout", 9, tuple(r.envelope_id for r in records), [4])]
    # Alone, each election still has its own alert.
    assert [a.election_id for a in detect(records, [late], sender_id=5, group_id=GROUP,
                                          now=at + timedelta(hours=2))] == [4]
    # A later alert whose envelopes an earlier one (another election's) named is not new.
    assert named_before(found[0], [(0, *found[0].envelope_ids)])
    assert not named_before(found[0], [found[0].envelope_ids[1:]])


def test_festival_raises_the_bar() -> None:
    spring = datetime(2027, 2, 6, 4, 0, tzinfo=UTC)  # Spring Festival 2027
    assert is_festival(spring)
    assert not is_festival(VOTE)
    e = election(starts_at=spring - timedelta(days=5), ends_at=spring + timedelta(days=10),
                 vote_at=spring + timedelta(days=9))
    records = [env(5, spring, 8000, MEMBERS[:40])]
    assert "fanout" not in patterns(records, 5, spring + timedelta(hours=1), [e])
    plain = [env(5, VOTE - timedelta(days=1), 8000, MEMBERS[:40])]
    assert "fanout" in patterns(plain, 5, VOTE - timedelta(hours=20))


def test_rounds_to_the_same_members() -> None:
    start = VOTE - timedelta(days=12)
    records = [env(6, start + timedelta(days=2 * i), 1700, MEMBERS[:45][i:i + 40], parts=40)
               for i in range(5)]
    now = start + timedelta(days=9)
    assert "rounds" in patterns(records, 6, now)
    # Three envelopes claimed by different people are not rounds.
    spread = [env(6, start + timedelta(days=3 * i), 1700, MEMBERS[i * 20:i * 20 + 10])
              for i in range(3)]
    assert "rounds" not in patterns(spread, 6, now)


def test_splitting_many_small_envelopes() -> None:
    at = VOTE - timedelta(days=4)
    records = [env(4, at + timedelta(minutes=2 * i), 167, [MEMBERS[i]], parts=1)
               for i in range(60)]
    assert "splitting" in patterns(records, 4, at + timedelta(hours=2))
    few = records[:3]
    assert "splitting" not in patterns(few, 4, at + timedelta(hours=2))


def test_collusion_of_several_senders() -> None:
    base = VOTE - timedelta(days=6)
    targets = MEMBERS[:30]
    records = []
    for day in (0, 2):
        for k, sender in enumerate((11, 12, 13)):
            records.append(env(sender, base + timedelta(days=day, minutes=10 * k), 3000,
                               targets[k:k + 25]))
    assert "collusion" in patterns(records, 11, base + timedelta(days=3))
    once = records[:3]
    assert "collusion" not in patterns(once, 11, base + timedelta(days=1))


def test_jump_against_own_history_not_group_peak() -> None:
    now = VOTE - timedelta(days=1)
    history = [env(3, now - timedelta(days=d), 300, MEMBERS[:3]) for d in range(20, 80, 10)]
    burst = [env(3, now - timedelta(days=1), 30_000, MEMBERS[:20])]  # a third of the group
    assert "jump" in patterns(history + burst, 3, now)
    # When the whole group spikes alike, it is the season, not the sender.
    others = [env(s, now - timedelta(days=1), 30_000, MEMBERS[:20]) for s in (20, 21, 22)]
    baseline = [env(s, now - timedelta(days=d), 300, MEMBERS[:3])
                for s in (20, 21, 22) for d in range(20, 80, 10)]
    assert "jump" not in patterns(history + burst + others + baseline, 3, now)


def test_claims_after_now_are_not_seen() -> None:
    at = VOTE - timedelta(days=2)
    records = [env(5, at, 20_000, MEMBERS[:41])]
    assert "fanout" not in patterns(records, 5, at)  # claims come a minute later


def test_thresholds_from_mapping_and_file(tmp_path: Path) -> None:
    t = Thresholds.from_mapping({"fanout_share": 0.9, "rounds_min": 4})
    assert (t.fanout_share, t.rounds_min, t.split_min_envelopes) == (0.9, 4, 6)
    for bad in ({"nope": 1}, {"rounds_min": 2.5}, {"fanout_share": -1}, {"rounds_min": True},
                {"fanout_share": "high"}):
        with pytest.raises(ValueError, match="threshold"):
            Thresholds.from_mapping(bad)
    path = tmp_path / "t.json"
    path.write_text('{"fanout_min_recipients": 3}')
    assert Thresholds.from_file(path).fanout_min_recipients == 3
    assert Thresholds.from_file(None) == Thresholds()
    # The same records with a lower bar: a strict committee sees the small fan-out too.
    at = VOTE - timedelta(days=2)
    small = [env(5, at, 6000, MEMBERS[:6], members=8)]
    assert "fanout" not in patterns(small, 5, at + timedelta(hours=1))
    assert "fanout" in patterns(small, 5, at + timedelta(hours=1),
                                t=Thresholds.from_mapping({"fanout_min_recipients": 3}))


def test_festival_seasons_are_named() -> None:
    assert festival_season(datetime(2027, 2, 6, 4, 0, tzinfo=UTC)) == "spring:2027"
    assert festival_season(datetime(2027, 2, 4, 20, 0, tzinfo=UTC)) == "spring:2027"  # eve
    assert festival_season(datetime(2026, 10, 3, 4, 0, tzinfo=UTC)) == "national:2026"
    assert festival_season(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == "new_year:2027"
    assert festival_season(VOTE) is None
    assert earlier_seasons("spring:2027", 2) == ["spring:2026", "spring:2025"]


def test_own_festival_habit_separates_a_generous_giver_from_a_cover() -> None:
    spring = datetime(2027, 2, 6, 4, 0, tzinfo=UTC)
    e = election(starts_at=spring - timedelta(days=5), ends_at=spring + timedelta(days=10),
                 vote_at=spring + timedelta(days=9))
    # 600 yuan on three Spring Festival days, reaching 50 of 60 members.
    records = [env(5, spring + timedelta(days=d), 20_000, MEMBERS[d * 10:d * 10 + 30])
               for d in range(3)]
    now = spring + timedelta(days=2, hours=1)

    def fanout(totals: dict[str, int] | None) -> bool:
        return any(a.pattern == "fanout" for a in detect(
            records, [e], sender_id=5, group_id=GROUP, now=now, festival_totals=totals))

    assert fanout(None)  # no history: no habit
    assert not fanout({"spring:2026": 45_000})  # gave 450 yuan last year: their usual
    assert not fanout({"spring:2025": 45_000, "spring:2026": 10_000})  # the larger year
    assert fanout({"spring:2026": 15_000})  # 600 > 2 × 150 + 200: beyond the habit
    assert fanout({"national:2026": 90_000})  # another festival's habit does not count
    assert fanout({"spring:2024": 90_000})  # too long ago (festival_habit_years)


def test_jump_needs_reach() -> None:
    at = VOTE - timedelta(days=2)
    history = [env(6, VOTE - timedelta(days=40), 1000, MEMBERS[:3])]
    few = [*history, env(6, at, 20_000, MEMBERS[:5]), env(6, at, 20_000, MEMBERS[5:10])]
    assert "jump" not in patterns(few, 6, at + timedelta(hours=2))
    many = [*history, env(6, at, 20_000, MEMBERS[:12]), env(6, at, 20_000, MEMBERS[12:24])]
    assert "jump" in patterns(many, 6, at + timedelta(hours=2))


# --- the election period withdraws the festival allowance ------------------------------------

SPRING = datetime(2027, 2, 6, 4, 0, tzinfo=UTC)  # Spring Festival 2027, noon in China


def _spring_fanout() -> list[EnvelopeRecord]:
    """Four 50-yuan envelopes over the first Spring Festival days reaching 54 of 60 members:
    200 yuan, which the festival allowance counts as 50 (below fanout_min_total_fen)."""
    return [env(5, SPRING + timedelta(days=d), 5_000, MEMBERS[d * 12:d * 12 + 18])
            for d in range(4)]


def test_festival_fanout_counts_in_full_inside_the_election_period() -> None:
    now = SPRING + timedelta(days=3, hours=1)
    inside = election(starts_at=SPRING - timedelta(days=2), ends_at=SPRING + timedelta(days=20),
                      vote_at=SPRING + timedelta(days=19))
    found = detect(_spring_fanout(), [inside], sender_id=5, group_id=GROUP, now=now)
    [fanout] = [a for a in found if a.pattern == "fanout"]
    assert fanout.details["festival_in_full"] == 4
    assert "inside the election period" in fanout.explanation
    assert fanout.details["share"] == 0.9
    # The same giving before the election period (in its lead) keeps the allowance.
    ahead = election(starts_at=SPRING + timedelta(days=10), ends_at=SPRING + timedelta(days=30),
                     vote_at=SPRING + timedelta(days=29))
    assert "fanout" not in patterns(_spring_fanout(), 5, now, [ahead])
    # festival_strict_lead_days starts the period earlier: then it counts in full there too.
    early = Thresholds.from_mapping({"festival_strict_lead_days": 14.0})
    assert "fanout" in patterns(_spring_fanout(), 5, now, [ahead], t=early)


def test_festival_share_and_habit_still_apply_inside_the_election_period() -> None:
    now = SPRING + timedelta(days=3, hours=1)
    inside = election(starts_at=SPRING - timedelta(days=2), ends_at=SPRING + timedelta(days=20),
                      vote_at=SPRING + timedelta(days=19))
    # A festival window reaching 70% of the members (below fanout_festival_share) is not a
    # fan-out, even at full amounts.
    ordinary = [env(5, SPRING + timedelta(days=d), 10_000, MEMBERS[d * 10:d * 10 + 14])
                for d in range(3)]
    assert "fanout" not in patterns(ordinary, 5, now, [inside])
    # A member who gave as much at last year's Spring Festival is giving as usual.
    found = detect(_spring_fanout(), [inside], sender_id=5, group_id=GROUP, now=now,
                   festival_totals={"spring:2026": 15_000})
    assert "fanout" not in {a.pattern for a in found}
    assert "fanout" in {a.pattern for a in detect(_spring_fanout(), [inside], sender_id=5,
                                                  group_id=GROUP, now=now,
                                                  festival_totals={"spring:2026": 0})}


def test_festival_collusion_counts_inside_the_election_period_only() -> None:
    targets = MEMBERS[:30]
    records = []
    for day in (0, 2):
        for k, sender in enumerate((11, 12, 13)):
            records.append(env(sender, SPRING + timedelta(days=day, minutes=10 * k), 3000,
                               targets[k:k + 25]))
    now = SPRING + timedelta(days=3)
    inside = election(starts_at=SPRING - timedelta(days=2), ends_at=SPRING + timedelta(days=20),
                      vote_at=SPRING + timedelta(days=19))
    found = detect(records, [inside], sender_id=11, group_id=GROUP, now=now)
    [collusion] = [a for a in found if a.pattern == "collusion"]
    assert collusion.details["co_senders"] == [12, 13]
    assert collusion.details["festival_in_full"] == 6
    ahead = election(starts_at=SPRING + timedelta(days=10), ends_at=SPRING + timedelta(days=30),
                     vote_at=SPRING + timedelta(days=29))
    assert "collusion" not in patterns(records, 11, now, [ahead])


def test_jump_reads_the_festival_habit() -> None:
    # A member who gives little all year and 1,200 yuan to most of the group at Spring
    # Festival, in the lead of an election, while the rest of the group is quiet.
    history = [env(3, SPRING - timedelta(days=d), 300, MEMBERS[:3]) for d in range(20, 80, 10)]
    burst = [env(3, SPRING + timedelta(days=d), 30_000, MEMBERS[d * 10:d * 10 + 20])
             for d in range(4)]
    now = SPRING + timedelta(days=3, hours=2)
    ahead = election(starts_at=SPRING + timedelta(days=10), ends_at=SPRING + timedelta(days=30),
                     vote_at=SPRING + timedelta(days=29))

    def jump(totals: dict[str, int] | None) -> list[Alert]:
        return [a for a in detect(history + burst, [ahead], sender_id=3, group_id=GROUP,
                                  now=now, festival_totals=totals) if a.pattern == "jump"]

    [alert] = jump(None)  # no history at the festival: a jump
    assert alert.details["festival_habit_excluded_fen"] == 0
    assert jump({"spring:2026": 60_000}) == []  # gave 600 yuan last year: their habit
    [alert] = jump({"spring:2026": 20_000})  # 1,200 > 2 × 200 + 200: beyond it
    assert alert.details["current_fen"] == 120_000


def test_every_threshold_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "envelopes.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
            for line in doc.splitlines() if line.startswith("| `")}
    for f in dataclasses.fields(Thresholds):
        assert f.name in rows, f"{f.name} is not in docs/envelopes.md"
        assert float(rows[f.name]) == float(f.default), f.name  # type: ignore[arg-type]
