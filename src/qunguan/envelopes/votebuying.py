"""Vote-buying detectors over red-envelope records (PAY-6, issue 5 part 5).

A pure module: it sees plain records (``EnvelopeRecord`` with its ``Claim``s,
``ElectionInfo``) and answers ``Alert``s with an explanation. It imports nothing of the
database, so the same code runs in the server (``envelopes.handlers`` feeds it from the
outbox after every send and claim) and over imported chat archives (``qunguan audit``).

``detect(records, elections, sender_id=, group_id=, now=)`` evaluates one sender in one
group at one moment over the records it is given (the group's envelopes of the last
``history_days``; claims after ``now`` are ignored). It is stateless: call it after each new
envelope or claim and de-duplicate alerts by ``Alert.key`` (one per pattern, sender, group
and election). A group covered by several elections at once gets one alert for the same
envelopes: where two elections find the same pattern and one alert's envelopes are a subset
of the other's, only the larger is answered (on a tie, the lower election id's), naming the
other elections in ``details["also_elections"]``; a caller that keeps alerts should likewise
skip a later alert whose envelopes an earlier one of the same pattern, sender and group, for
another election, already named all of (``named_before``).

Patterns, each only for envelopes inside an election window (from ``lead_days`` before the
election starts to its end) of an election covering the group:

- ``candidate``: the sender is a declared candidate or associate of the election.
- ``fanout``: one sender's envelopes reached at least ``fanout_share`` of the group's members
  (and ``fanout_min_recipients``) within ``fanout_window_hours``, for at least
  ``fanout_min_total_fen``.
- ``rounds``: at least ``rounds_min`` envelopes within ``rounds_window_days`` before the vote,
  each claimed by ``rounds_min_recipients`` or more, whose claimers overlap round to round
  (mean Jaccard at least ``rounds_overlap``).
- ``splitting``: at least ``split_min_envelopes`` envelopes within ``split_window_hours``
  (many small envelopes instead of one), together at least ``split_min_total_fen``.
- ``collusion``: another sender's envelopes went to the same members (Jaccard at least
  ``collusion_overlap``) within ``collusion_window_minutes`` of the sender's, on at least
  ``collusion_min_occurrences`` separate occasions.
- ``jump``: the sender's total over ``jump_window_days`` is at least ``jump_factor`` times
  their usual total for such a window over the previous ``history_days`` (never less than
  ``jump_min_total_fen``), reaching at least ``jump_min_share`` of the members (a large gift
  to a few is not buying votes), while the group as a whole is not at a seasonal peak (its
  own total below ``group_peak_factor`` times its usual).

Festival days (Spring Festival from its eve to the Lantern Festival, New Year's Day, Labour
Day, Dragon Boat, Mid-Autumn, National Day week; China time; ``festival_season`` names each
season, e.g. "spring:2027") are normal peaks: a window of festival envelopes alone must reach
``fanout_festival_share`` of the members to be a fan-out. Before the election period, festival
envelopes also get the festival allowance: fan-out, splitting and jump need
``festival_multiplier`` times their amounts there (fan-out counts a festival envelope for
1/``festival_multiplier`` of its amount), and they count neither as rounds nor for collusion.
Inside the election period (from ``festival_strict_lead_days`` before the election starts to
its end: PAY-3's period, when the group's envelopes are watched most closely) the allowance is
withdrawn: a festival envelope counts for its full amount and as a round or for collusion like
any other; the festival share and the sender's habit (below) still apply there. The candidate
pattern ignores festivals.

A sender's own festival habit separates a generous festival giver from a festival cover:
given ``festival_totals`` (what the sender gave in this group at each earlier festival
season, which the server keeps per sender, group and season), the festival envelopes of a
season in which the sender has given so far at most ``festival_habit_factor`` times their
largest total at the same festival in the ``festival_habit_years`` years before, plus
``festival_habit_slack_fen``, are their usual giving and count neither towards fan-out nor
towards a jump. A sender with no such history has no habit: their festival envelopes count as
above.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from qunguan.kernel.clock import CHINA

PATTERNS = ("candidate", "fanout", "rounds", "splitting", "collusion", "jump")


@dataclass(frozen=True)
class Claim:
    account_id: int
    amount_fen: int
    ts: datetime


@dataclass(frozen=True)
class EnvelopeRecord:
    """One envelope as the detectors see it. ``claims`` may run past ``now``: the
    detectors ignore those. ``group_member_count`` is the group's size when it was sent."""

    envelope_id: int
    sender_id: int
    group_id: int
    amount_fen: int
    parts: int
    ts: datetime
    group_member_count: int
    claims: tuple[Claim, ...] = ()

    def recipients(self, now: datetime) -> frozenset[int]:
        return frozenset(c.account_id for c in self.claims if c.ts <= now)


@dataclass(frozen=True)
class ElectionInfo:
    """An election and the groups it covers; ``associates`` maps an associate (a relative,
    an agent) to the candidate they act for."""

    id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    vote_at: datetime
    group_ids: frozenset[int]
    candidates: frozenset[int] = frozenset()
    associates: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    """Every tunable number of the detectors (QUNGUAN_VOTEBUYING_THRESHOLDS_FILE overrides
    any of them by name)."""

    lead_days: float = 30.0
    history_days: float = 90.0
    candidate_min_fen: int = 1
    fanout_window_hours: float = 168.0
    fanout_share: float = 0.65
    fanout_min_recipients: int = 10
    fanout_min_total_fen: int = 6_000
    fanout_festival_share: float = 0.75
    rounds_window_days: float = 21.0
    rounds_min: int = 3
    rounds_min_recipients: int = 8
    rounds_overlap: float = 0.3
    split_window_hours: float = 6.0
    split_min_envelopes: int = 6
    split_min_total_fen: int = 2_000
    collusion_window_minutes: float = 120.0
    collusion_overlap: float = 0.4
    collusion_min_recipients: int = 8
    collusion_min_occurrences: int = 2
    jump_window_days: float = 7.0
    jump_factor: float = 5.0
    jump_min_total_fen: int = 25_000
    jump_min_share: float = 0.3
    group_peak_factor: float = 2.0
    festival_multiplier: float = 4.0
    festival_habit_factor: float = 2.0
    festival_habit_years: int = 2
    festival_habit_slack_fen: int = 20_000
    festival_strict_lead_days: float = 0.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Thresholds:
        """Defaults overridden by ``values``; an unknown name or a wrong type is a
        ValueError naming it."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        out: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown vote-buying threshold {name!r}")
            default = getattr(cls, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or (
                    isinstance(default, int) and not isinstance(value, int)) or value < 0:
                raise ValueError(f"threshold {name!r} must be a non-negative "
                                 f"{type(default).__name__}")
            out[name] = value
        return cls(**out)

    @classmethod
    def from_file(cls, path: Path | None) -> Thresholds:
        if path is None:
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a JSON object of thresholds")
        return cls.from_mapping(data)


@dataclass(frozen=True)
class Alert:
    pattern: str
    sender_id: int
    group_id: int
    election_id: int
    envelope_ids: tuple[int, ...]
    at: datetime  # when it fired: the moment detect() was asked about
    first_at: datetime  # the first envelope of the pattern
    explanation: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.pattern}:{self.sender_id}:{self.group_id}:{self.election_id}"


# --- festivals --------------------------------------------------------------------------------

# Spring Festival (lunar new year's day) by year; the season runs from its eve to the
# Lantern Festival (day 15).
_SPRING = {2020: (1, 25), 2021: (2, 12), 2022: (2, 1), 2023: (1, 22), 2024: (2, 10),
           2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26), 2029: (2, 13),
           2030: (2, 3), 2031: (1, 23), 2032: (2, 11), 2033: (1, 31), 2034: (2, 19),
           2035: (2, 8)}
_DRAGON_BOAT = {2020: (6, 25), 2021: (6, 14), 2022: (6, 3), 2023: (6, 22), 2024: (6, 10),
                2025: (5, 31), 2026: (6, 19), 2027: (6, 9), 2028: (5, 28), 2029: (6, 16),
                2030: (6, 5)}
_MID_AUTUMN = {2020: (10, 1), 2021: (9, 21), 2022: (9, 10), 2023: (9, 29), 2024: (9, 17),
               2025: (10, 6), 2026: (9, 25), 2027: (9, 15), 2028: (10, 3), 2029: (9, 22),
               2030: (9, 12)}


def festival_season(ts: datetime) -> str | None:
    """The festival season ``ts`` falls in, as ``kind:year`` ("spring:2027", "national:2027";
    also "new_year", "labour", "dragon_boat", "mid_autumn"), or None on an ordinary day
    (China time). The same festival a year earlier is ``kind:year-1``."""
    return _season_of_day(ts.astimezone(CHINA).date())


@lru_cache(maxsize=4096)
def _season_of_day(day: date) -> str | None:
    if (day.month, day.day) == (1, 1):
        return f"new_year:{day.year}"
    spring = _SPRING.get(day.year)
    if spring is not None and -1 <= (day - date(day.year, *spring)).days <= 14:
        return f"spring:{day.year}"
    if day.month == 5 and day.day <= 3:
        return f"labour:{day.year}"
    for kind, table in (("dragon_boat", _DRAGON_BOAT), ("mid_autumn", _MID_AUTUMN)):
        found = table.get(day.year)
        if found is not None and abs((day - date(day.year, *found)).days) <= 1:
            return f"{kind}:{day.year}"
    if day.month == 10 and day.day <= 7:
        return f"national:{day.year}"
    return None


def spring_festival_day(ts: datetime) -> int | None:
    """The day of the Spring Festival season ``ts`` falls on (China time): 0 on the eve, 1 on
    the lunar new year's day, up to 15 on the Lantern Festival; None outside the season."""
    day = ts.astimezone(CHINA).date()
    spring = _SPRING.get(day.year)
    if spring is None:
        return None
    n = (day - date(day.year, *spring)).days + 1
    return n if 0 <= n <= 15 else None


def is_festival(ts: datetime) -> bool:
    """Whether ``ts`` falls on a festival day in China (a normal red-envelope peak)."""
    return festival_season(ts) is not None


def earlier_seasons(season: str, years: int) -> list[str]:
    """The same festival in each of the ``years`` years before ``season``."""
    kind, year = season.split(":")
    return [f"{kind}:{int(year) - k}" for k in range(1, years + 1)]


@dataclass(frozen=True)
class _Allowance:
    """Where one election withdraws the festival allowance: inside its election period, from
    ``festival_strict_lead_days`` before it starts to its end."""

    period_from: datetime
    period_to: datetime

    @classmethod
    def of(cls, election: ElectionInfo, t: Thresholds) -> _Allowance:
        return cls(election.starts_at - timedelta(days=t.festival_strict_lead_days),
                   election.ends_at)

    def applies(self, ts: datetime) -> bool:
        """Whether an envelope sent at ``ts`` gets the festival allowance: a festival day
        before the election period."""
        return is_festival(ts) and not self.period_from <= ts <= self.period_to

    def factor(self, r: EnvelopeRecord, t: Thresholds) -> float:
        return t.festival_multiplier if self.applies(r.ts) else 1.0

    def in_full(self, used: Sequence[EnvelopeRecord]) -> int:
        """How many of ``used`` are festival envelopes counted in full (inside the period)."""
        return sum(1 for r in used if is_festival(r.ts) and not self.applies(r.ts))


# --- detection --------------------------------------------------------------------------------


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _timing(election: ElectionInfo, first: datetime) -> dict[str, Any]:
    return {"election": election.name, "election_id": election.id,
            "starts_at": election.starts_at.isoformat(), "ends_at": election.ends_at.isoformat(),
            "vote_at": election.vote_at.isoformat(),
            "days_before_vote": round((election.vote_at - first).total_seconds() / 86400, 1)}


def detect(records: Sequence[EnvelopeRecord], elections: Sequence[ElectionInfo], *,
           sender_id: int, group_id: int, now: datetime,
           thresholds: Thresholds | None = None,
           festival_totals: Mapping[str, int] | None = None) -> list[Alert]:
    """The alerts about ``sender_id`` in ``group_id`` as of ``now``. ``records`` should hold
    the group's envelopes of the last ``history_days`` (more is ignored; fewer weakens the
    jump baseline). ``festival_totals`` is the sender's giving in this group per earlier
    festival season (``festival_season`` names; fen sent), which tells their habit at the
    festival from a festival cover: only seasons before ``now``'s year are read."""
    t = thresholds or Thresholds()
    seen = [r for r in records if r.group_id == group_id and r.ts <= now
            and r.ts > now - timedelta(days=t.history_days)]
    out: list[Alert] = []
    for election in elections:
        if group_id not in election.group_ids:
            continue
        opens = election.starts_at - timedelta(days=t.lead_days)
        if not opens <= now <= election.ends_at + timedelta(days=1):
            continue
        window = [r for r in seen if opens <= r.ts <= election.ends_at]
        mine = sorted((r for r in window if r.sender_id == sender_id), key=lambda r: r.ts)
        if not mine:
            continue
        allowance = _Allowance.of(election, t)
        args = (election, mine, now, t, allowance)
        habitual = _habitual_seasons(mine, seen, festival_totals or {}, now, t)
        for found in (_candidate(election, mine, now, t), _fanout(*args, habitual),
                      _rounds(*args), _splitting(*args),
                      _collusion(election, mine, window, now, t, allowance),
                      _jump(election, mine, seen, now, t, allowance, habitual)):
            if found is not None:
                out.append(found)
    return _one_per_envelopes(out, {e.id: e.name for e in elections})


def _one_per_envelopes(alerts: list[Alert], names: Mapping[int, str]) -> list[Alert]:
    """One alert where several elections covering the group found the same pattern on the same
    envelopes: of two alerts of a pattern whose envelopes are a subset of the other's, the one
    with more envelopes stands (on a tie, the lower election id), naming the other elections
    in ``details["also_elections"]`` and in its explanation. The order is ``alerts``'s."""
    kept: dict[int, list[int]] = {}  # index in alerts -> the other elections it stands for
    for n in sorted(range(len(alerts)),
                    key=lambda n: (-len(alerts[n].envelope_ids), alerts[n].election_id)):
        alert, ids = alerts[n], set(alerts[n].envelope_ids)
        into = next((k for k in kept if alerts[k].pattern == alert.pattern
                     and ids <= set(alerts[k].envelope_ids)), None)
        if into is None:
            kept[n] = []
        else:
            kept[into].append(alert.election_id)
    out = []
    for n in sorted(kept):
        alert, others = alerts[n], sorted(set(kept[n]))
        if others:
            listed = ", ".join(repr(names.get(e, str(e))) for e in others)
            alert = dataclasses.replace(
                alert, details={**alert.details, "also_elections": others},
                explanation=f"{alert.explanation} The same envelopes also fall within the "
                            f"window of the election(s) {listed} covering this group: this "
                            "one alert stands for them all.")
        out.append(alert)
    return out


def named_before(alert: Alert, earlier: Iterable[Iterable[int]]) -> bool:
    """Whether one of ``earlier`` (the envelope ids of the alerts already kept with the same
    pattern, sender and group, another election's) names all of ``alert``'s envelopes: then
    ``alert`` would give officers the same envelopes a second time."""
    ids = set(alert.envelope_ids)
    return any(ids <= set(named) for named in earlier)


def _alert(pattern: str, election: ElectionInfo, used: Sequence[EnvelopeRecord],
           now: datetime, explanation: str, **details: Any) -> Alert:
    first = min(r.ts for r in used)
    return Alert(pattern, used[0].sender_id, used[0].group_id, election.id,
                 tuple(r.envelope_id for r in used), now, first, explanation,
                 {**details, "total_fen": sum(r.amount_fen for r in used),
                  "timing": _timing(election, first)})


def _candidate(election: ElectionInfo, mine: list[EnvelopeRecord], now: datetime,
               t: Thresholds) -> Alert | None:
    sender = mine[0].sender_id
    if sender in election.candidates:
        role, candidate = "candidate", sender
    elif sender in election.associates:
        role, candidate = "associate", election.associates[sender]
    else:
        return None
    used = [r for r in mine if r.amount_fen >= t.candidate_min_fen]
    if not used:
        return None
    total = sum(r.amount_fen for r in used)
    return _alert("candidate", election, used, now,
                  f"The sender is a declared {role} of the election {election.name!r} and sent "
                  f"{len(used)} red envelope(s) worth {_yuan(total)} yuan to the group during "
                  "its window.", role=role, candidate_id=candidate)


def _habitual_seasons(mine: list[EnvelopeRecord], seen: list[EnvelopeRecord],
                      earlier: Mapping[str, int], now: datetime,
                      t: Thresholds) -> dict[str, dict[str, int]]:
    """The festival seasons of the sender's envelopes in which they give as they did before:
    this season's total so far (in this group) at most ``festival_habit_factor`` times their
    largest total at the same festival in the ``festival_habit_years`` years before. Each with
    the two totals, for the explanation. A sender without such a history has no habit."""
    out: dict[str, dict[str, int]] = {}
    sender = mine[0].sender_id
    for season in {s for r in mine if (s := festival_season(r.ts)) is not None}:
        before = max((earlier.get(e, 0) for e in earlier_seasons(season, t.festival_habit_years)),
                     default=0)
        if before <= 0:
            continue
        now_total = sum(r.amount_fen for r in seen if r.sender_id == sender and r.ts <= now
                        and festival_season(r.ts) == season)
        if now_total <= t.festival_habit_factor * before + t.festival_habit_slack_fen:
            out[season] = {"this_season_fen": now_total, "earlier_fen": before}
    return out


def _fanout(election: ElectionInfo, mine: list[EnvelopeRecord], now: datetime,
            t: Thresholds, allowance: _Allowance,
            habitual: Mapping[str, Mapping[str, int]]) -> Alert | None:
    since = now - timedelta(hours=t.fanout_window_hours)
    # A festival envelope within the sender's own habit at that festival is their usual
    # giving, not a fan-out: it does not count.
    used = [r for r in mine if r.ts >= since and festival_season(r.ts) not in habitual]
    if not used:
        return None
    recipients: set[int] = set()
    for r in used:
        recipients |= r.recipients(now)
    members = max(r.group_member_count for r in used) or 1
    total = sum(r.amount_fen for r in used)
    # Festival envelopes before the election period count for 1/festival_multiplier of their
    # amount, inside it in full; a window of festival envelopes alone needs the festival share
    # of the members.
    weighted = sum(r.amount_fen / allowance.factor(r, t) for r in used)
    peak = all(is_festival(r.ts) for r in used)
    share = len(recipients) / members
    needed_share = t.fanout_festival_share if peak else t.fanout_share
    if (len(recipients) >= t.fanout_min_recipients and share >= needed_share
            and weighted >= t.fanout_min_total_fen):
        in_full = allowance.in_full(used)
        return _alert("fanout", election, used, now,
                      f"{len(used)} envelope(s) worth {_yuan(total)} yuan from one sender "
                      f"reached {len(recipients)} of the group's {members} members "
                      f"({share:.0%}) within {t.fanout_window_hours:g} hours."
                      + (f" {in_full} of them were sent on festival days inside the election "
                         "period, where festival envelopes count in full." if in_full else ""),
                      recipients=sorted(recipients), members=members, share=round(share, 3),
                      festival_in_full=in_full,
                      festival_habit={k: dict(v) for k, v in habitual.items()})
    return None


def _rounds(election: ElectionInfo, mine: list[EnvelopeRecord], now: datetime,
            t: Thresholds, allowance: _Allowance) -> Alert | None:
    since = election.vote_at - timedelta(days=t.rounds_window_days)
    used = [r for r in mine if since <= r.ts <= election.vote_at and not allowance.applies(r.ts)
            and len(r.recipients(now)) >= t.rounds_min_recipients]
    if len(used) < t.rounds_min:
        return None
    overlaps = [_jaccard(a.recipients(now), b.recipients(now)) for a, b in pairwise(used)]
    mean = sum(overlaps) / len(overlaps)
    if mean < t.rounds_overlap:
        return None
    repeat: set[int] = set()
    for a, b in pairwise(used):
        repeat |= a.recipients(now) & b.recipients(now)
    return _alert("rounds", election, used, now,
                  f"{len(used)} rounds of envelopes before the vote reached largely the same "
                  f"members (mean overlap {mean:.0%} round to round).",
                  recipients=sorted(repeat), mean_overlap=round(mean, 3),
                  festival_in_full=allowance.in_full(used))


def _splitting(election: ElectionInfo, mine: list[EnvelopeRecord], now: datetime,
               t: Thresholds, allowance: _Allowance) -> Alert | None:
    since = now - timedelta(hours=t.split_window_hours)
    used = [r for r in mine if r.ts >= since]
    factor = max((allowance.factor(r, t) for r in used), default=1.0)
    total = sum(r.amount_fen for r in used)
    if len(used) >= t.split_min_envelopes * factor and total >= t.split_min_total_fen:
        recipients: set[int] = set()
        for r in used:
            recipients |= r.recipients(now)
        return _alert("splitting", election, used, now,
                      f"{len(used)} envelopes worth {_yuan(total)} yuan in "
                      f"{t.split_window_hours:g} hours where one would do (mean "
                      f"{_yuan(total // len(used))} yuan each).",
                      recipients=sorted(recipients), envelopes=len(used))
    return None


def _collusion(election: ElectionInfo, mine: list[EnvelopeRecord],
               window: list[EnvelopeRecord], now: datetime, t: Thresholds,
               allowance: _Allowance) -> Alert | None:
    sender = mine[0].sender_id
    reach = timedelta(minutes=t.collusion_window_minutes)
    others = [r for r in window if r.sender_id != sender and not allowance.applies(r.ts)
              and len(r.recipients(now)) >= t.collusion_min_recipients]
    occasions: dict[int, list[tuple[EnvelopeRecord, EnvelopeRecord]]] = {}
    for r in mine:
        ours = r.recipients(now)
        if allowance.applies(r.ts) or len(ours) < t.collusion_min_recipients:
            continue
        for o in others:
            if abs(o.ts - r.ts) <= reach and _jaccard(ours, o.recipients(now)) >= \
                    t.collusion_overlap:
                occasions.setdefault(o.sender_id, []).append((r, o))
    partners = {}
    for other, pairs in occasions.items():
        distinct = {r.envelope_id for r, _ in pairs}
        if len(distinct) >= t.collusion_min_occurrences:
            partners[other] = pairs
    if not partners:
        return None
    used_ids: dict[int, EnvelopeRecord] = {}
    shared: set[int] = set()
    for pairs in partners.values():
        for r, o in pairs:
            used_ids[r.envelope_id] = r
            used_ids[o.envelope_id] = o
            shared |= r.recipients(now) & o.recipients(now)
    used = sorted(used_ids.values(), key=lambda r: (r.sender_id != sender, r.ts))
    return _alert("collusion", election, used, now,
                  f"The sender and {len(partners)} other sender(s) sent envelopes to largely "
                  f"the same members within {t.collusion_window_minutes:g} minutes of each "
                  "other, repeatedly.", co_senders=sorted(partners), recipients=sorted(shared),
                  festival_in_full=allowance.in_full(used))


def _window_totals(records: Sequence[EnvelopeRecord], end: datetime, days: float,
                   history_days: float) -> tuple[int, float]:
    """(total in the window ending at ``end``, mean total per such window before it)."""
    width = timedelta(days=days)
    current = sum(r.amount_fen for r in records if end - width < r.ts <= end)
    before = [r for r in records if r.ts <= end - width]
    windows = max(1.0, (history_days - days) / days)
    return current, sum(r.amount_fen for r in before) / windows


def _jump(election: ElectionInfo, mine: list[EnvelopeRecord], seen: list[EnvelopeRecord],
          now: datetime, t: Thresholds, allowance: _Allowance,
          habitual: Mapping[str, Mapping[str, int]]) -> Alert | None:
    sender = mine[0].sender_id
    since = now - timedelta(days=t.jump_window_days)
    # The window's festival envelopes within the sender's own habit at that festival are
    # their usual giving: they do not make a jump (the baseline before the window is kept).
    excused = {r.envelope_id for r in seen if r.sender_id == sender and r.ts > since
               and festival_season(r.ts) in habitual}
    own = [r for r in seen if r.sender_id == sender and r.envelope_id not in excused]
    current, usual = _window_totals(own, now, t.jump_window_days, t.history_days)
    used = [r for r in mine if r.ts > since and r.envelope_id not in excused]
    if not used:
        return None
    factor = max(allowance.factor(r, t) for r in used)
    needed = max(t.jump_min_total_fen * factor, t.jump_factor * usual)
    if current < needed:
        return None
    reached: set[int] = set()
    for r in used:
        reached |= r.recipients(now)
    members = max(r.group_member_count for r in used) or 1
    if len(reached) < t.jump_min_share * members:
        return None  # a large gift to a few is not buying a vote
    group_now, group_usual = _window_totals(seen, now, t.jump_window_days, t.history_days)
    group_others = group_now - current - sum(r.amount_fen for r in seen
                                             if r.envelope_id in excused)
    if group_usual > 0 and group_others >= t.group_peak_factor * group_usual:
        return None  # the whole group is at a peak: seasonal, not this sender
    return _alert("jump", election, used, now,
                  f"The sender's red envelopes in this group over {t.jump_window_days:g} days "
                  f"({_yuan(current)} yuan) are {current / max(usual, 1):.1f} times their usual "
                  f"({_yuan(int(usual))} yuan per such window), while the rest of the group is "
                  "not at a seasonal peak.", usual_fen=int(usual), current_fen=current,
                  festival_habit_excluded_fen=sum(r.amount_fen for r in seen
                                                  if r.envelope_id in excused),
                  festival_in_full=allowance.in_full(used))


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert as one JSON object (the replay's output line, less what the caller adds)."""
    return {"pattern": alert.pattern, "sender_id": alert.sender_id, "group_id": alert.group_id,
            "election_id": alert.election_id, "envelope_ids": list(alert.envelope_ids),
            "at": alert.at.isoformat(), "first_at": alert.first_at.isoformat(),
            "explanation": alert.explanation, "details": alert.details}
