"""Seeded red-envelope scenarios for evaluating the vote-buying detectors (issue 5), and the
figures computed from a replay's alerts.

A scenario is a JSONL event file (format in docs/envelopes.md, "Scenario files"): members,
groups with their members, election periods with candidates, then envelope sends and claims
in time order. ``label`` lines carry the ground truth of planted cases; the replay ignores
them. Pure: no database; ``qunguan eval envelopes`` writes the file, runs
``envelopes.replay`` over it and scores the alerts with ``score``.

Normal use: birthdays, thank-yous to one member, small lucky "games", and festival peaks
(Spring Festival eve to day 3 at 15 times the usual rate; the rest of its season, day 4 to
the Lantern Festival on day 15, New Year's Day, Labour Day, the Dragon Boat and Mid-Autumn
festivals and National Day week at 4 times: the festival days of ``votebuying``), from
members whose habits (how often each sends, on a Pareto law) persist: the year before the
evaluated period is simulated too, by the same members in the same groups with the same
habits, because people who give generously at Spring Festival did so the year before, and a
server that has run for a year knows it. That year holds no election and no planted case; a
``period`` line says where the evaluated period starts, and false alerts are counted per
normal envelope of that period. Planted vote buying, modelled on the issue's cases, each
inside an election covering its group:

- ``seed_secretary``: a candidate branch secretary sends 200-yuan envelopes split 40 ways to
  the branch group, several a day over days (the seed case);
- ``tiantai_split``: a candidate splits 100 yuan into 60 one-part envelopes in two hours
  (Tiantai 2017);
- ``yiwu_rounds``: an undeclared agent sends five rounds of 160-180 yuan split 40-60 ways
  before the vote (Yiwu);
- evasions: ``evasion_spread`` (an agent spreads 50-yuan envelopes over ten days),
  ``evasion_relative`` (a relative's undeclared account does the fan-out),
  ``evasion_small`` (many 5-yuan envelopes over four days), ``collusion`` (three agents send
  to the same members within minutes, twice), ``festival_cover`` (an agent's fan-out on
  Spring Festival days, when everyone sends).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from qunguan.envelopes.votebuying import (
    Claim,
    ElectionInfo,
    EnvelopeRecord,
    Thresholds,
    detect,
    festival_season,
    is_festival,
    named_before,
    spring_festival_day,
)

START = datetime(2027, 1, 4, 0, 0, tzinfo=UTC)  # Spring Festival 2027 is 6 February
DAYS = 150
HISTORY_DAYS = 365  # the year before START: normal use only (Spring Festival 2026, 17 Feb)
PLANTED = ("seed_secretary", "tiantai_split", "yiwu_rounds", "evasion_spread",
           "evasion_relative", "evasion_small", "collusion", "festival_cover")

_CATEGORIES = [("village_committee", 123), ("village_committee", 90), ("village_committee", 70),
               ("village_committee", 110), ("party_branch", 45), ("party_branch", 38),
               ("party_branch", 52), ("government_office", 60), ("government_office", 80),
               ("work", 40), ("work", 25), ("social", 100), ("social", 150),
               ("village_committee", 95), ("party_branch", 41), ("work", 60)]


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


@dataclass
class _Builder:
    rng: random.Random
    lines: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[datetime, int, dict[str, Any]]] = field(default_factory=list)
    serial: int = 0
    envelopes: int = 0
    normal_envelopes: int = 0

    def envelope(self, ts: datetime, sender: str, group: str, total: int, parts: int,
                 claimers: list[str], split: str = "lucky", recipient: str | None = None,
                 case: str | None = None, evaluated: bool = True,
                 rng: random.Random | None = None) -> str:
        self.envelopes += 1
        if case is None and evaluated:
            self.normal_envelopes += 1
        ref = f"x{self.envelopes}"
        send: dict[str, Any] = {"type": "send", "ts": _iso(ts), "envelope": ref,
                                "sender": sender, "group": group, "total_fen": total,
                                "parts": parts, "split": split}
        if recipient is not None:
            send["recipient"] = recipient
        self._push(ts, send)
        at = ts
        for member in claimers[:parts]:
            at = at + timedelta(seconds=(rng or self.rng).randint(5, 900))
            self._push(at, {"type": "claim", "ts": _iso(at), "envelope": ref, "member": member})
        return ref

    def _push(self, ts: datetime, line: dict[str, Any]) -> None:
        self.serial += 1
        self.events.append((ts, self.serial, line))


def _day_rate(day: datetime) -> float:
    """How many times the usual rate of normal envelopes ``day`` has: 15 from the Spring
    Festival eve to day 3, 4 from day 4 to the Lantern Festival (day 15) and on the other
    festivals, 1 otherwise."""
    spring = spring_festival_day(day)
    if spring is not None:
        return 15.0 if spring <= 3 else 4.0
    return 4.0 if is_festival(day) else 1.0


def generate(seed: int = 1, days: int = DAYS, groups: int = 16, cases_per_pattern: int = 3,
             history_days: int = HISTORY_DAYS) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The scenario's lines (setup, then events in time order, then labels) and a summary.
    The evaluated period is ``days`` from START; the ``history_days`` before it are normal
    use only, drawn from a random stream of their own, so the evaluated period is the same
    whatever the history's length."""
    rng = random.Random(seed)
    b = _Builder(rng)
    specs = _CATEGORIES[:groups]
    people = 0
    group_members: dict[str, list[str]] = {}
    pool = [f"m{i}" for i in range(1, 1 + sum(size for _, size in specs) // 2)]
    for i, (category, size) in enumerate(specs, start=1):
        gid = f"g{i}"
        members = rng.sample(pool, min(size, len(pool)))
        group_members[gid] = members
        b.lines.append({"type": "group", "id": gid, "name": f"{category}-{i}",
                        "category": category, "members": members, "founder": members[0]})
    people = len(pool)
    setup = [{"type": "member", "id": m, "display_name": f"成员{m[1:]}"} for m in pool]

    # Elections: about half the groups hold one, some over the Spring Festival.
    elections: list[dict[str, Any]] = []
    election_groups = [g for g in group_members if rng.random() < 0.7] or list(group_members)
    for n, gid in enumerate(election_groups, start=1):
        starts = START + timedelta(days=rng.randint(10, days - 40))
        vote = starts + timedelta(days=rng.randint(14, 25))
        elections.append({"type": "election", "id": f"e{n}", "name": f"换届选举{n}",
                          "scope": "group", "group": gid, "starts_at": _iso(starts),
                          "vote_at": _iso(vote), "ends_at": _iso(vote + timedelta(days=1)),
                          "policy": "disclose", "candidates": []})

    # Normal use: each group, each day; the history year from a stream of its own.
    habits = {m: rng.paretovariate(1.6) for m in pool}
    history = random.Random(seed * 1_000_003 + 17)
    for gid, members in group_members.items():
        weights = [habits[m] for m in members]
        for d in range(-history_days, days):
            day = START + timedelta(days=d)
            r = history if d < 0 else rng
            lam = len(members) * 0.006 * _day_rate(day + timedelta(hours=12))
            for _ in range(_poisson(r, lam)):
                ts = day + timedelta(seconds=r.randint(7 * 3600, 23 * 3600) - 8 * 3600)
                sender = r.choices(members, weights)[0]
                others = [m for m in members if m != sender]
                _normal_envelope(b, r, ts, sender, gid, others, is_festival(ts),
                                 evaluated=d >= 0)

    # Planted cases, each in an election over its group.
    labels: list[dict[str, Any]] = []
    case_no = 0
    spring_elections: list[dict[str, Any]] = []
    for pattern in PLANTED:
        for k in range(cases_per_pattern):
            election = elections[(case_no * 7 + k) % len(elections)]
            if pattern == "festival_cover":
                election = _spring_election(b, rng, elections, group_members, spring_elections,
                                            k)
            case_no += 1
            case = f"c{case_no}"
            refs, first, role = _plant(b, rng, pattern, case, election, group_members, pool)
            senders = sorted({ev[2]["sender"] for ev in b.events
                              if ev[2]["type"] == "send" and ev[2]["envelope"] in set(refs)})
            labels.append({"type": "label", "case": case, "pattern": pattern,
                           "election": election["id"], "group": election["group"],
                           "envelopes": refs, "senders": senders, "first_ts": _iso(first),
                           "sender_role": role})
    b.events.sort(key=lambda e: (e[0], e[1]))
    period = {"type": "period", "evaluated_from": _iso(START),
              "history_from": _iso(START - timedelta(days=history_days))}
    lines = [period] + setup + b.lines + elections + [e[2] for e in b.events] + labels
    summary = {"seed": seed, "days": days, "history_days": history_days,
               "groups": len(group_members), "members": people, "elections": len(elections),
               "envelopes": b.envelopes, "normal_envelopes": b.normal_envelopes,
               "planted_cases": len(labels)}
    return lines, summary


def _poisson(rng: random.Random, lam: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < lam:
        count += 1
        total += rng.expovariate(1.0)
    return count


def _normal_envelope(b: _Builder, rng: random.Random, ts: datetime, sender: str, gid: str,
                     others: list[str], festival: bool, evaluated: bool = True) -> None:
    n = len(others) + 1
    kind = rng.choices(["birthday", "thanks", "game", "festival"],
                       [3, 3, 3, 6 if festival else 0.5])[0]
    if kind == "thanks":
        who = rng.choice(others)
        b.envelope(ts, sender, gid, rng.choice([520, 666, 888, 1000, 2000, 5000]), 1, [who],
                   recipient=who, evaluated=evaluated, rng=rng)
        return
    if kind == "birthday":
        total, parts = rng.choice([2000, 5000, 6600, 8800, 10000]), rng.randint(5, 15)
    elif kind == "game":
        total, parts = rng.randint(500, 2000), rng.randint(5, 12)
    else:
        total, parts = rng.choice([5000, 8800, 10000, 16800, 20000]), rng.randint(10, 40)
    parts = max(1, min(parts, n - 1, total))
    share = rng.uniform(0.5, 1.0)
    claimers = rng.sample(others, max(1, min(len(others), int(parts * share) or 1)))
    b.envelope(ts, sender, gid, total, parts, claimers, evaluated=evaluated, rng=rng)


def _spring_election(b: _Builder, rng: random.Random, elections: list[dict[str, Any]],
                     group_members: dict[str, list[str]], made: list[dict[str, Any]],
                     k: int) -> dict[str, Any]:
    """An extra election spanning Spring Festival 2027, for the festival-cover case."""
    gid = list(group_members)[(k * 5 + 1) % len(group_members)]
    starts = datetime(2027, 1, 30, tzinfo=UTC)
    vote = datetime(2027, 2, 20, 2, tzinfo=UTC)
    election = {"type": "election", "id": f"e{len(elections) + 1}", "name": "春节前后换届选举",
                "scope": "group", "group": gid, "starts_at": _iso(starts), "vote_at": _iso(vote),
                "ends_at": _iso(vote + timedelta(days=1)), "policy": "disclose",
                "candidates": []}
    if any(e["group"] == gid and _overlaps(e, election) for e in elections):
        election = next(e for e in elections if e["group"] == gid and _overlaps(e, election))
    else:
        elections.append(election)
        made.append(election)
    return election


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["starts_at"] < b["ends_at"] and b["starts_at"] < a["ends_at"])


def _time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _plant(b: _Builder, rng: random.Random, pattern: str, case: str,
           election: dict[str, Any], group_members: dict[str, list[str]],
           pool: list[str]) -> tuple[list[str], datetime, str]:
    gid = election["group"]
    members = group_members[gid]
    vote = _time(election["vote_at"])
    starts = _time(election["starts_at"])
    outsiders = [m for m in pool if m not in members]
    # The buyer is a group member; "relative" accounts are members not declared anywhere.
    buyer = rng.choice(members)
    others = [m for m in members if m != buyer]
    role = "undeclared"
    if pattern in ("seed_secretary", "tiantai_split"):
        election["candidates"].append(buyer)
        role = "candidate"
    refs: list[str] = []

    def fan(ts: datetime, total: int, parts: int, share: float = 0.95,
            sender: str | None = None) -> None:
        who = sender or buyer
        pool_ = [m for m in members if m != who]
        claimers = rng.sample(pool_, min(len(pool_), max(1, int(parts * share))))
        refs.append(b.envelope(ts, who, gid, total, min(parts, len(pool_)), claimers,
                               case=case))

    day = max(starts, vote - timedelta(days=12))
    if pattern == "seed_secretary":
        for d in range(4):
            for k in range(rng.randint(2, 4)):
                fan(day + timedelta(days=d, hours=2 + 3 * k), 20000, 40)
    elif pattern == "tiantai_split":
        at = day + timedelta(days=3, hours=3)
        total, count = 10000, 60
        for i in range(count):
            amount = total // count + (1 if i < total % count else 0)
            claimer = rng.choice(others)
            refs.append(b.envelope(at + timedelta(minutes=2 * i), buyer, gid, amount, 1,
                                   [claimer], case=case))
    elif pattern == "yiwu_rounds":
        for r in range(5):
            fan(vote - timedelta(days=11 - 2 * r, hours=rng.randint(0, 6)),
                rng.randint(160, 180) * 100, rng.randint(40, 60))
    elif pattern == "evasion_spread":
        for d in range(10):
            fan(vote - timedelta(days=14 - d, hours=rng.randint(0, 8)), 5000, 15, share=0.9)
    elif pattern == "evasion_relative":
        relative = rng.choice(others)
        for d in (0, 2, 5):
            fan(day + timedelta(days=d, hours=4), 15000, 40, sender=relative)
        buyer = relative
    elif pattern == "evasion_small":
        for d in range(4):
            for k in range(5):
                fan(day + timedelta(days=d, hours=1 + 2 * k), 500, 10, share=1.0)
    elif pattern == "collusion":
        team = rng.sample(others, 3)
        targets = rng.sample([m for m in members if m not in team], min(35, len(members) - 3))
        for d in (1, 4):
            for k, sender in enumerate(team):
                ts = day + timedelta(days=d, hours=3, minutes=12 * k)
                claimers = rng.sample(targets, min(len(targets), 28))
                refs.append(b.envelope(ts, sender, gid, 10000, 30, claimers, case=case))
    elif pattern == "festival_cover":
        spring = datetime(2027, 2, 5, 4, tzinfo=UTC)  # Spring Festival eve, China noon
        for d in range(3):
            fan(spring + timedelta(days=d), 20000, 50)
    del outsiders
    first = min(_time(ev[2]["ts"]) for ev in b.events if ev[2].get("envelope") in set(refs)
                and ev[2]["type"] == "send")
    return refs, first, role


def write_jsonl(lines: Iterable[dict[str, Any]], path: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")


def read_jsonl(path: Any) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            if raw.strip():
                try:
                    yield json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {number}: not JSON ({exc.msg})") from None


# --- scoring ----------------------------------------------------------------------------------


def score(lines: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-pattern recall, false alerts per 10,000 normal envelopes, time to alert."""
    labels = [line for line in lines if line.get("type") == "label"]
    planted = {ref for label in labels for ref in label["envelopes"]}
    # Normal envelopes of the evaluated periods (a history year before one is not counted;
    # several scenarios scored together each have their own period line).
    normal = 0
    evaluated_from: datetime | None = None
    for line in lines:
        if line.get("type") == "period":
            evaluated_from = _time(line["evaluated_from"])
        elif line.get("type") == "send" and line["envelope"] not in planted and (
                evaluated_from is None or _time(line["ts"]) >= evaluated_from):
            normal += 1
    per: dict[str, dict[str, Any]] = {}
    for label in labels:
        refs = set(label["envelopes"])
        hits = [a for a in alerts if refs & set(a["envelopes"])]
        row = per.setdefault(label["pattern"], {"cases": 0, "alerted": 0, "hours": [],
                                                "detectors": {}})
        row["cases"] += 1
        if hits:
            row["alerted"] += 1
            first = _time(label["first_ts"])
            row["hours"].append(min((_time(a["at"]) - first).total_seconds() / 3600
                                    for a in hits))
            for a in hits:
                row["detectors"][a["pattern"]] = row["detectors"].get(a["pattern"], 0) + 1
    buyers = {(s, label["group"]) for label in labels for s in label.get("senders", [])}
    false = [a for a in alerts if not planted & set(a["envelopes"])]
    # An alert on a planted sender's own normal envelopes in the same group (a candidate's
    # birthday envelope during the election) is about the right person: counted apart.
    on_buyers = [a for a in false if (a.get("sender"), a.get("group")) in buyers]
    false = [a for a in false if (a.get("sender"), a.get("group")) not in buyers]
    false_by: dict[str, int] = {}
    for a in false:
        false_by[a["pattern"]] = false_by.get(a["pattern"], 0) + 1
    return {
        "patterns": {k: {"cases": v["cases"], "alerted": v["alerted"],
                         "recall": v["alerted"] / v["cases"],
                         "median_hours_to_alert": _median(v["hours"]),
                         "max_hours_to_alert": max(v["hours"]) if v["hours"] else None,
                         "detectors": v["detectors"]} for k, v in per.items()},
        "normal_envelopes": normal, "false_alerts": len(false), "false_by_detector": false_by,
        "alerts_on_buyers_normal_envelopes": len(on_buyers),
        "false_per_10k": 10_000 * len(false) / max(1, normal),
    }


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# --- the detectors over a scenario, in memory ------------------------------------------------


def simulate(lines: list[dict[str, Any]],
             thresholds: Thresholds | None = None) -> list[dict[str, Any]]:
    """The alerts of the vote-buying detectors over a scenario without a database: the same
    ``votebuying.detect`` the server runs, asked after every send and claim of a group under
    an election, with the sender's festival totals kept as the server keeps them (per sender,
    group and festival season, added at each send) and the alerts kept as the server keeps
    them (one per ``Alert.key``, none whose envelopes an alert kept under another election
    already named). ``envelopes.replay`` gives the same alerts
    through the real ledger (tested on a small scenario); this runs months of an institution
    in seconds."""
    t = thresholds or Thresholds()
    numbers = _Numbers()
    groups: dict[str, list[str]] = {}
    elections: list[ElectionInfo] = []
    names: dict[int, str] = {}
    sends: dict[str, dict[str, Any]] = {}
    claims: dict[str, list[Claim]] = {}
    by_group: dict[str, list[str]] = {}
    first_recent: dict[str, int] = {}  # index in by_group of the first send within history
    festivals: dict[tuple[str, str], dict[str, int]] = {}  # (sender, group) -> season -> fen
    seen: set[str] = set()
    named: dict[tuple[str, int, int], list[tuple[int, ...]]] = {}  # as handlers._store skips
    out: list[dict[str, Any]] = []
    for line in lines:
        kind = line.get("type")
        if kind == "group":
            groups[line["id"]] = line["members"]
        elif kind == "election":
            covered = frozenset(numbers(g) for g in ([line["group"]] if line.get("group")
                                                      else []))
            e = ElectionInfo(numbers(line["id"]), str(line.get("name", line["id"])),
                             _time(line["starts_at"]), _time(line["ends_at"]),
                             _time(line.get("vote_at") or line["ends_at"]), covered,
                             frozenset(numbers(c) for c in line.get("candidates", [])),
                             {numbers(a): numbers(c)
                              for a, c in (line.get("associates") or {}).items()})
            elections.append(e)
            names[e.id] = line["id"]
        elif kind in ("send", "claim"):
            now = _time(line["ts"])
            ref = line["envelope"]
            if kind == "send":
                sends[ref] = line
                claims[ref] = []
                by_group.setdefault(line["group"], []).append(ref)
                season = festival_season(now)
                if season is not None:
                    totals = festivals.setdefault((line["sender"], line["group"]), {})
                    totals[season] = totals.get(season, 0) + int(line["total_fen"])
            elif ref in sends:
                claims[ref].append(Claim(numbers(line["member"]), 0, now))
            else:
                continue
            send = sends[ref]
            gid = numbers(send["group"])
            active = [e for e in elections if gid in e.group_ids
                      and e.starts_at - timedelta(days=t.lead_days) <= now
                      <= e.ends_at + timedelta(days=1)]
            if not active:
                continue
            horizon = now - timedelta(days=t.history_days)
            group_refs = by_group[send["group"]]
            start = first_recent.get(send["group"], 0)
            while start < len(group_refs) and _time(sends[group_refs[start]]["ts"]) <= horizon:
                start += 1
            first_recent[send["group"]] = start
            members = len(groups.get(send["group"], ())) or 1
            records = [EnvelopeRecord(numbers(r), numbers(sends[r]["sender"]), gid,
                                      sends[r]["total_fen"], sends[r].get("parts", 1),
                                      _time(sends[r]["ts"]), members, tuple(claims[r]))
                       for r in group_refs[start:]]
            for alert in detect(records, active, sender_id=numbers(send["sender"]),
                                group_id=gid, now=now, thresholds=t,
                                festival_totals=festivals.get((send["sender"], send["group"]))):
                same = (alert.pattern, alert.sender_id, alert.group_id)
                if alert.key in seen or named_before(alert, named.get(same, [])):
                    continue
                seen.add(alert.key)
                named.setdefault(same, []).append(alert.envelope_ids)
                out.append({"pattern": alert.pattern, "sender": send["sender"],
                            "group": send["group"], "election": names.get(alert.election_id),
                            "envelopes": [numbers.name(i) for i in alert.envelope_ids],
                            "at": alert.at.isoformat(), "first_at": alert.first_at.isoformat(),
                            "explanation": alert.explanation})
    return out


class _Numbers:
    """Stable integers for the scenario's string ids (the detectors compare integers)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._names: dict[int, str] = {}

    def __call__(self, name: str) -> int:
        if name not in self._ids:
            self._ids[name] = len(self._ids) + 1
            self._names[self._ids[name]] = name
        return self._ids[name]

    def name(self, number: int) -> str:
        return self._names[number]
