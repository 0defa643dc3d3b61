"""Scenario files: the generator is seeded, the replay runs a file through the real ledger and
detectors on a fresh database, and gives the same alerts as the detectors in memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qunguan.cli.envelopes import run_replay
from qunguan.cli.main import app as cli_app
from qunguan.envelopes.replay import ScenarioError
from qunguan.envelopes.scenarios import _day_rate, generate, score, simulate, write_jsonl
from qunguan.envelopes.votebuying import spring_festival_day

T0 = datetime(2027, 7, 1, 2, 0, tzinfo=UTC)


def _ts(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def small_scenario() -> list[dict[str, Any]]:
    """A village group of 14 under an election: a candidate's envelope, an agent's fan-out to
    most members, and a member's birthday envelope to three."""
    members = [f"m{i}" for i in range(1, 15)]
    lines: list[dict[str, Any]] = [{"type": "member", "id": m, "display_name": f"村民{m}"}
                                   for m in members]
    lines.append({"type": "group", "id": "g1", "name": "三村村民群",
                  "category": "village_committee", "members": members})
    lines.append({"type": "election", "id": "e1", "name": "三村换届", "scope": "group",
                  "group": "g1", "starts_at": _ts(0), "vote_at": _ts(24 * 10),
                  "ends_at": _ts(24 * 11), "policy": "disclose", "candidates": ["m1"]})
    events = [("send", 24, {"envelope": "x1", "sender": "m1", "total_fen": 1000, "parts": 2})]
    events += [("claim", 24.1, {"envelope": "x1", "member": "m3"})]
    events += [("send", 30, {"envelope": "x2", "sender": "m2", "total_fen": 19200,
                             "parts": 12, "split": "fixed"})]
    events += [("claim", 30 + i / 10, {"envelope": "x2", "member": m})
               for i, m in enumerate(members[2:14], start=1)]
    events += [("send", 40, {"envelope": "x3", "sender": "m5", "total_fen": 2000, "parts": 3})]
    events += [("claim", 40.2, {"envelope": "x3", "member": m}) for m in ("m6", "m7", "m8")]
    for kind, hours, body in events:
        line = {"type": kind, "ts": _ts(hours), **body}
        if kind == "send":
            line["group"] = "g1"
        lines.append(line)
    lines.append({"type": "label", "case": "c1", "pattern": "seed_secretary", "group": "g1",
                  "envelopes": ["x2"], "senders": ["m2"], "first_ts": _ts(30)})
    lines.append({"type": "label", "case": "c2", "pattern": "candidate_sends", "group": "g1",
                  "envelopes": ["x1"], "senders": ["m1"], "first_ts": _ts(24)})
    return lines


def _keys(alerts: list[dict[str, Any]]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(a["pattern"], a["sender"], tuple(a["envelopes"])) for a in alerts}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_replay_matches_the_detectors_in_memory(backend: str) -> None:
    lines = small_scenario()
    result = run_replay(lines)
    assert (result.sends, result.claims) == (3, 16)
    # The candidate's envelope is held (a candidate sends under "hold" at least).
    assert dict(result.refused) == {"claim:envelope_held": 1}
    assert _keys(result.alerts) == _keys(simulate(lines))
    assert ("candidate", "m1", ("x1",)) in _keys(result.alerts)
    assert ("fanout", "m2", ("x2",)) in _keys(result.alerts)
    assert not [a for a in result.alerts if a["sender"] == "m5"]
    fanout = next(a for a in result.alerts if a["pattern"] == "fanout")
    assert fanout["election"] == "e1"
    # Raised after the ninth claim (10 recipients), not before the envelope was sent.
    assert _ts(30) < fanout["at"] <= _ts(31)
    figures = score(lines, result.alerts)
    assert figures["patterns"]["seed_secretary"]["recall"] == 1.0
    assert figures["false_alerts"] == 0


def test_replay_cli_writes_one_alert_per_line(tmp_path: Path) -> None:
    path = tmp_path / "scenario.jsonl"
    write_jsonl(small_scenario(), path)
    out = tmp_path / "alerts.jsonl"
    result = CliRunner().invoke(cli_app, ["envelopes", "replay", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    assert {a["pattern"] for a in alerts} >= {"candidate", "fanout"}
    assert all(set(a) >= {"pattern", "sender", "group", "envelopes", "at"} for a in alerts)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "send", "ts": "2027-07-01T00:00:00", "envelope": "x"}\n')
    result = CliRunner().invoke(cli_app, ["envelopes", "replay", str(bad)])
    assert result.exit_code == 1
    assert "time zone" in result.output


def test_bad_scenarios_name_the_line() -> None:
    lines = small_scenario()
    out_of_order = [*lines[:17], lines[18], lines[17], *lines[19:]]
    with pytest.raises(ScenarioError, match="time order"):
        run_replay(out_of_order)
    with pytest.raises(ScenarioError, match="unknown line type"):
        run_replay([{"type": "gift"}])


def test_generator_is_seeded_and_plants_every_pattern() -> None:
    a, summary = generate(seed=7, days=90, cases_per_pattern=1)
    b, _ = generate(seed=7, days=90, cases_per_pattern=1)
    assert a == b
    labels = [line for line in a if line["type"] == "label"]
    assert {label["pattern"] for label in labels} == {
        "seed_secretary", "tiantai_split", "yiwu_rounds", "evasion_spread", "evasion_relative",
        "evasion_small", "collusion", "festival_cover"}
    assert summary["normal_envelopes"] > 500
    stamps = [line["ts"] for line in a if line["type"] in ("send", "claim")]
    assert stamps == sorted(stamps)


def test_spring_festival_peak_runs_from_the_eve_to_day_3() -> None:
    # Spring Festival 2027 is 6 February (day 1); the eve is day 0, the Lantern Festival
    # day 15 (20 February). Noon UTC is 20:00 in China, the same date.
    def rate(month: int, day: int, year: int = 2027) -> float:
        return _day_rate(datetime(year, month, day, 12, tzinfo=UTC))

    days = [datetime(2027, 2, d, 12, tzinfo=UTC) for d in (4, 5, 8, 20, 21)]
    assert [spring_festival_day(d) for d in days] == [None, 0, 3, 15, None]
    assert rate(2, 5) == rate(2, 6) == rate(2, 8) == 15.0  # the eve to day 3
    assert rate(2, 9) == rate(2, 10) == rate(2, 20) == 4.0  # day 4 to the Lantern Festival
    assert rate(2, 16, 2026) == 15.0  # the history year's eve (Spring Festival 2026: 17 Feb)
    assert rate(2, 20, 2026) == 4.0
    assert rate(1, 1) == rate(10, 1) == 4.0  # the other festivals
    assert rate(2, 4) == rate(2, 21) == rate(3, 10) == 1.0
