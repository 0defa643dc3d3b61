"""The envelopes capability's vote-buying detectors over an archive's red envelopes, through
the audit's envelope-detector seam. Runs where qunguan.envelopes.votebuying is installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qunguan.cli.main import app as cli_app
from qunguan.importers import envelope_alerts
from qunguan.importers.elections import envelope_detectors

pytest.importorskip("qunguan.envelopes.votebuying")

T0 = 1_719_878_400_000  # 2024-07-02T00:00:00Z


def envelope_findings(archive: Path, elections: Path, out: Path) -> list[dict[str, Any]]:
    """The envelope findings of ``qunguan audit`` over ``archive`` (in-process)."""
    result = CliRunner().invoke(cli_app, ["audit", str(archive), "--out", str(out),
                                          "--workers", "1", "--elections", str(elections)])
    assert result.exit_code == 0, result.output
    found = [json.loads(x) for x in (out / "findings.jsonl").read_text("utf-8").splitlines()]
    return [f for f in found if f["kind"] == "envelope"]


def test_splitting_and_candidate_in_an_archive_before_an_election(tmp_path: Path) -> None:
    envelope_alerts.register()
    assert "votebuying" in envelope_detectors()
    archive = tmp_path / "wecom.jsonl"
    rows = [{"msgid": "t0", "action": "send", "from": "someone", "tolist": [],
             "roomid": "village", "msgtime": T0 - 3_600_000, "msgtype": "text",
             "text": {"content": "大家好"}}]
    # a candidate splits 100 yuan into 10 envelopes within an hour, two days before the vote
    for i in range(10):
        rows.append({"msgid": f"r{i}", "action": "send", "from": "cand_wxid", "tolist": [],
                     "roomid": "village", "msgtime": T0 + i * 300_000, "msgtype": "redpacket",
                     "redpacket": {"type": 2, "wish": "请支持我", "totalcnt": 12,
                                   "totalamount": 1000}})
    archive.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                       encoding="utf-8")
    elections = tmp_path / "elections.csv"
    elections.write_text("group,start,end,name,candidates\nvillage,2024-07-04,2024-07-04,"
                         "村委会换届,cand_wxid\n", encoding="utf-8")
    out = tmp_path / "out"
    alerts = {f["rule"]: f for f in envelope_findings(archive, elections, out)}
    assert {"votebuying.candidate", "votebuying.splitting"} <= set(alerts)
    splitting = alerts["votebuying.splitting"]
    assert splitting["group"] == "village"
    assert splitting["sender"].startswith("P-")
    assert set(splitting["message_ids"]) == {f"r{i}" for i in range(10)}
    assert splitting["evidence"]["election"] == "村委会换届"
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Vote-buying detectors: votebuying" in html
    assert "votebuying.splitting" in html
    assert "cand_wxid" not in html


def test_no_election_no_alert() -> None:
    assert envelope_alerts.votebuying_findings([], []) == []



def test_two_elections_over_a_group_give_one_finding_for_the_same_envelopes(
        tmp_path: Path) -> None:
    # The splitting of the first test, in a group covered by a village election and a branch
    # election at once (the branch one ends a week later): one finding per pattern, the first
    # row's, naming the other election, as the server stores one alert (docs/audit.md).
    envelope_alerts.register()
    archive = tmp_path / "wecom.jsonl"
    rows = [{"msgid": f"r{i}", "action": "send", "from": "cand_wxid", "tolist": [],
             "roomid": "village", "msgtime": T0 + i * 300_000, "msgtype": "redpacket",
             "redpacket": {"type": 2, "wish": "请支持我", "totalcnt": 12, "totalamount": 1000}}
            for i in range(10)]
    archive.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                       encoding="utf-8")
    elections = tmp_path / "elections.csv"
    elections.write_text("group,start,end,name,candidates\n"
                         "village,2024-07-04,2024-07-04,村委会换届,cand_wxid\n"
                         "village,2024-07-04,2024-07-11,党支部换届,cand_wxid\n", encoding="utf-8")
    alerts = envelope_findings(archive, elections, tmp_path / "out")
    assert sorted(f["rule"] for f in alerts) == ["votebuying.candidate", "votebuying.splitting"]
    for finding in alerts:
        assert finding["evidence"]["election"] == "村委会换届"
        assert finding["evidence"]["also_elections"] == ["党支部换届"]
        assert finding["evidence"]["details"]["also_elections"] == [2]
        assert "'党支部换届'" in finding["evidence"]["explanation"]
    [splitting] = [f for f in alerts if f["rule"] == "votebuying.splitting"]
    assert set(splitting["message_ids"]) == {f"r{i}" for i in range(10)}
