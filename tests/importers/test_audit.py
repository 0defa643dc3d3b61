"""`qunguan audit` and `qunguan import convert` over the fixtures: the real screening, rumour
matching and clustering, personal data and red envelopes, the report and the pseudonyms."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qunguan.cli.main import app as cli_app
from qunguan.importers.elections import (
    Election,
    EnvelopeRecord,
    register_envelope_detector,
    unregister_envelope_detector,
)
from qunguan.importers.screener import Item, Screener, load_bank, load_pack
from qunguan.screening.policy import DEFAULT_PACK_DIR

FIXTURES = Path(__file__).parent / "fixtures"
ALL = sorted(str(p) for p in FIXTURES.iterdir())
runner = CliRunner()


def audit(tmp_path: Path, *args: str, files: list[str] | None = None) -> Any:
    return runner.invoke(cli_app, ["audit", *(files or ALL), "--out", str(tmp_path / "out"),
                                   *args])


def findings(tmp_path: Path) -> list[dict[str, Any]]:
    text = (tmp_path / "out" / "findings.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def report(tmp_path: Path) -> str:
    return (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_audit_runs_the_real_pipeline_over_every_format(tmp_path: Path) -> None:
    result = audit(tmp_path, "--workers", "1")
    assert result.exit_code == 0, result.output
    found = findings(tmp_path)
    rules = {(f["kind"], f["rule"]) for f in found}
    # personal data (WeCom text with a mobile number), debunked claims (WeChat, Telegram,
    # WhatsApp), the alarm classifier, a short link (Telegram), rumour clusters
    assert ("pii", "pii.mobile") in rules
    assert ("rumour", "rumors.debunk_label") in rules
    assert ("rumour", "rumors.debunk_forward") in rules  # the Telegram forward
    assert ("rumour", "rumors.alarm") in rules
    assert ("screening", "links.short_link") in rules  # t.cn in the Telegram chat
    # the abduction alarm inside a WeCom chat record and posted in a WhatsApp group: one
    # cluster across two groups, first seen in WeCom
    cluster = next(f for f in found if f["kind"] == "rumour_cluster"
                   and len(f["message_ids"]) == 2)
    assert cluster["message_ids"] == ["1013_1718000780000_external",
                                      "WhatsApp Chat with Residents 3rd Floor.txt:9"]
    assert cluster["evidence"]["groups"] == 2
    assert cluster["evidence"]["first"]["group"] == "wrEgRoomAbc123"
    pii = next(f for f in found if f["rule"] == "pii.mobile")
    assert pii["message_ids"] == ["1003_1718000180000_external"]
    assert pii["group"] == "wrEgRoomAbc123"
    assert pii["file"].endswith("wecom.jsonl")
    assert pii["line"] == 4
    assert pii["evidence"]["signals"][0]["evidence"]["lengths"] == [11]
    vinegar = next(f for f in found if f["rule"] == "rumors.debunk_label"
                   and f["message_ids"] == ["7001"])
    assert vinegar["evidence"]["signals"][0]["evidence"]["card"]["verdict"] == "false"
    for f in found:
        assert {"kind", "rule", "message_ids", "group", "time", "evidence"} <= set(f)
    html = report(tmp_path)
    assert "Archive audit report" in html
    assert "rumors.debunk_label" in html
    assert "<svg" in html


def test_workers_give_the_same_findings_as_one_process(tmp_path: Path) -> None:
    one = tmp_path / "one"
    two = tmp_path / "two"
    key = tmp_path / "key"
    key.write_bytes(b"k" * 32)
    for out, n in ((one, "1"), (two, "2")):
        result = runner.invoke(cli_app, ["audit", *ALL, "--out", str(out), "--workers", n,
                                         "--key-file", str(key)])
        assert result.exit_code == 0, result.output
    assert (one / "findings.jsonl").read_text(encoding="utf-8") == \
        (two / "findings.jsonl").read_text(encoding="utf-8")


def test_personal_data_and_sender_ids_never_reach_the_outputs(tmp_path: Path) -> None:
    result = audit(tmp_path, "--workers", "1")
    assert result.exit_code == 0, result.output
    out = report(tmp_path) + (tmp_path / "out" / "findings.jsonl").read_text(encoding="utf-8")
    for secret in ("13812345678", "138 1234 5678", "wxid_aaa", "wxid_bbb", "zhangsan",
                   "user222", "Chen Jing", "lisi|zhangsan"):
        assert secret not in out, secret
    assert "我的电话是•••••••••••" in out  # the number masked, the rest kept
    assert "P-" in out
    assert "No mapping back was written" in report(tmp_path)
    assert not list((tmp_path / "out").glob("*map*"))


def test_reveal_map_goes_to_its_own_file(tmp_path: Path) -> None:
    mapping = tmp_path / "reveal.json"
    result = audit(tmp_path, "--workers", "1", "--reveal-map", str(mapping))
    assert result.exit_code == 0, result.output
    data = json.loads(mapping.read_text(encoding="utf-8"))
    assert "identifies people" in data["what"]
    ids = {i for entry in data["pseudonyms"].values() for i in entry["ids"]}
    assert {"wxid_aaa", "zhangsan", "user222"} <= ids
    pii = next(f for f in findings(tmp_path) if f["rule"] == "pii.mobile")
    assert data["pseudonyms"][pii["sender"]]["ids"] == ["lisi"]
    html = report(tmp_path)
    assert "reveal.json" in html
    assert "wxid_aaa" not in html
    assert mapping.stat().st_mode & 0o077 == 0


def test_report_is_self_contained(tmp_path: Path) -> None:
    assert audit(tmp_path, "--workers", "1").exit_code == 0
    html = report(tmp_path)
    assert "<script" not in html
    assert "<link" not in html
    assert 'src="http' not in html
    assert "@import" not in html


def test_elections_and_the_envelope_detector_seam(tmp_path: Path) -> None:
    elections = tmp_path / "elections.csv"
    elections.write_text("group,start,end,name\nwrEgRoomAbc123,2024-06-09,2024-06-11,换届选举\n"
                         "业主群,2024-07-01,2024-07-02,\n", encoding="utf-8")
    seen: list[tuple[list[EnvelopeRecord], list[Election]]] = []

    def detector(records: Sequence[EnvelopeRecord],
                 periods: list[Election]) -> list[dict[str, Any]]:
        # The records are read from disk while the detector runs: keep a copy to look at.
        seen.append((list(records), periods))
        assert [records[i] for i in range(len(records))] == seen[-1][0]
        assert [(r.ts, r.id) for r in records] == sorted((r.ts, r.id) for r in records)
        return [{"rule": "test.big_envelope", "group": r.group, "time": r.ts.isoformat(),
                 "message_ids": [r.id], "evidence": {"amount_fen": r.amount_fen}}
                for r in records if (r.amount_fen or 0) >= 1_000_000]

    register_envelope_detector("test", detector)
    try:
        result = audit(tmp_path, "--workers", "1", "--elections", str(elections))
    finally:
        unregister_envelope_detector("test")
    assert result.exit_code == 0, result.output
    [(records, periods)] = seen
    kinds = {(r.kind, r.amount_fen, r.parts) for r in records}
    assert ("red_envelope", 4100000, 41) in kinds
    assert ("red_envelope", None, None) in kinds  # personal WeChat: amount unknown
    assert ("transfer", 20000, None) in kinds
    assert all(r.sender.startswith("P-") or r.sender == "" for r in records)
    assert periods[0] == Election("wrEgRoomAbc123", date(2024, 6, 9), date(2024, 6, 11),
                                  "换届选举")
    assert periods[1].group == "7788@chatroom"  # named by the group's name
    [alert] = [f for f in findings(tmp_path) if f["rule"] == "test.big_envelope"]
    assert alert["kind"] == "envelope"
    assert alert["message_ids"] == ["1018_1718001080000_external"]
    html = report(tmp_path)
    assert 'fill="#fff3b0"' in html  # the election shaded
    assert "alert on 2024-06-10" in html
    assert "known amounts total ¥41100.00" in html
    assert "of unknown amount" in html


def test_without_a_detector_the_report_says_so(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qunguan.importers.elections._DETECTORS", {})
    assert audit(tmp_path, "--workers", "1").exit_code == 0
    assert "No vote-buying detector is installed" in report(tmp_path)


def test_bad_input_is_counted_in_the_report_and_the_rest_audited(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = (FIXTURES / "wecom.jsonl").read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join([lines[1], "\x01\x02 garbage {", lines[3],
                              json.dumps({"msgid": "u1", "msgtype": "hologram",
                                          "msgtime": 1718000000000})]) + "\n",
                   encoding="utf-8")
    result = audit(tmp_path, "--workers", "1", files=[str(bad), *ALL])
    assert result.exit_code == 1
    assert f"{bad}:2: not JSON" in result.stderr.replace("\n", "")
    errors = (tmp_path / "out" / "errors.txt").read_text(encoding="utf-8").splitlines()
    assert errors == [f"{bad}:2: not JSON (Expecting value at column 1)",
                      f"{bad}:4: unknown msgtype 'hologram'"]
    html = report(tmp_path)
    assert "2 place(s) could not be read" in html
    assert any(f["rule"] == "pii.mobile" for f in findings(tmp_path))  # the rest audited


def test_strict_stops_at_the_first_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = (FIXTURES / "wecom.jsonl").read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join([lines[1], "{oops", lines[3]]) + "\n", encoding="utf-8")
    result = audit(tmp_path, "--workers", "1", "--strict", files=[str(bad), *ALL])
    assert result.exit_code == 1
    assert "Stopped at the first unreadable place" in report(tmp_path)
    assert f"{bad}:2" in report(tmp_path)


@pytest.mark.parametrize("what", ["bank", "policy", "elections", "key"])
def test_unusable_bank_policy_elections_or_key_audits_nothing(tmp_path: Path,
                                                             what: str) -> None:
    bad = tmp_path / "bad"
    if what == "policy":
        bad.mkdir()
        shutil.copytree(DEFAULT_PACK_DIR, bad / "pack")
        (bad / "pack" / "rules" / "pii.toml").write_text("[[rule]]\nid = 3\n", encoding="utf-8")
        bad = bad / "pack"
    elif what == "elections":
        bad.write_text("group,start,end\ng,2024-06-10,2024-06-01\n", encoding="utf-8")
    elif what == "key":
        bad.write_bytes(b"short")
    else:
        bad.write_text('{"id": "1", "claim": ""}\n', encoding="utf-8")
    option = {"bank": "--bank", "policy": "--policy", "elections": "--elections",
              "key": "--key-file"}[what]
    result = audit(tmp_path, "--workers", "1", option, str(bad))
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out" / "report.html").exists()


def test_given_policy_pack_and_bank(tmp_path: Path) -> None:
    bank = tmp_path / "bank.jsonl"
    bank.write_text(json.dumps({"id": "d1", "claim": "今晚停水，请大家提前储水",
                                "verdict": "false"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    pack = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK_DIR, pack)
    result = audit(tmp_path, "--workers", "1", "--bank", str(bank), "--policy", str(pack))
    assert result.exit_code == 0, result.output
    labelled = [f for f in findings(tmp_path) if f["rule"] == "rumors.debunk_label"]
    assert [f["message_ids"] for f in labelled] == [["7788@chatroom:2"]]
    assert labelled[0]["evidence"]["signals"][0]["evidence"]["debunk_id"] == "d1"


def test_convert_then_audit_the_neutral_format(tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    result = runner.invoke(cli_app, ["import", "convert", *ALL, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 73
    assert {r["source"] for r in rows} == {"wecom-archive", "wechat-csv", "whatsapp-txt",
                                           "telegram-json"}
    direct = tmp_path / "direct"
    key = tmp_path / "key"
    key.write_bytes(b"k" * 32)
    assert runner.invoke(cli_app, ["audit", *ALL, "--out", str(direct), "--workers", "1",
                                   "--key-file", str(key)]).exit_code == 0
    via = tmp_path / "via"
    assert runner.invoke(cli_app, ["audit", str(out), "--out", str(via), "--workers", "1",
                                   "--key-file", str(key)]).exit_code == 0

    def strip(path: Path) -> list[tuple[str, str, list[str]]]:
        return [(f["kind"], f["rule"], f["message_ids"]) for f in
                map(json.loads, (path / "findings.jsonl").read_text("utf-8").splitlines())]

    assert strip(via) == strip(direct)


def test_convert_reports_bad_lines_and_unknown_format(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text((FIXTURES / "wecom.jsonl").read_text(encoding="utf-8") + "{oops\n",
                   encoding="utf-8")
    result = runner.invoke(cli_app, ["import", "convert", str(bad)])
    assert result.exit_code == 1
    assert result.stdout.count("\n") == 22
    assert f"{bad}:24: not JSON" in result.stderr.replace("\n", "")
    result = runner.invoke(cli_app, ["import", "convert", str(bad), "--format", "fax"])
    assert result.exit_code == 2
    assert "unknown format" in result.stderr


def test_mask_hides_every_kind_of_personal_number() -> None:
    from qunguan.importers.audit import mask

    masked = mask("身份证11010519491231002X，卡号6222 0212 3456 7890 128 手机138-1234-5678 完")
    assert masked == "身份证" + "•" * 18 + ",卡号" + "•" * 23 + " 手机" + "•" * 13 + " 完"
    assert mask("会议室 302，明天 9 点") == "会议室 302,明天 9 点"


def test_flood_state_forgets_windows_from_another_files_later_times(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are read one after another, so time steps back at the second file's start: the
    first file's windows (later times) must still be purged, and a sender's count must not
    include them."""
    from qunguan.importers import audit
    from qunguan.importers.events import ArchiveEvent
    from qunguan.importers.pseudonyms import Pseudonyms

    monkeypatch.setattr(audit, "FLOOD_PURGE_EVERY", 5)
    tally = audit.Tally(Pseudonyms())
    late = datetime(2024, 9, 1, tzinfo=UTC)
    for i in range(4):  # file A: four senders near 1 September
        audit._item(tally, i, ArchiveEvent("message", f"a{i}", late + timedelta(seconds=i), "g",
                                           "wecom-archive", sender=f"s{i}", text="收到"))
    early = datetime(2024, 6, 1, tzinfo=UTC)
    for i in range(6):  # file B starts three months earlier; one sender, spaced out
        item = audit._item(tally, i, ArchiveEvent(
            "message", f"b{i}", early + timedelta(minutes=5 * i), "g", "wechat-csv",
            sender="t", text="好的"))
        assert item is not None
        assert item.recent == 0
    assert set(tally.flood) == {("g", "t")}


def test_the_text_cache_tells_a_first_message_from_a_later_one() -> None:
    """The links detector reads whether the message is the sender's first in the group: a
    text seen first as a later message must still be flagged as someone's first (and the
    other way round), whichever worker saw it before."""
    bank, entries = load_bank(None)
    screener = Screener(load_pack(None), bank, entries)
    text = "大家看看这个 https://example.com/offer"

    def rules(first: bool) -> set[str]:
        return {h["rule"] for h in screener.screen(Item(0, text, False, 0, first)).hits}

    assert "links.first_message" not in rules(False)
    assert "links.first_message" in rules(True)
    assert "links.first_message" not in rules(False)
