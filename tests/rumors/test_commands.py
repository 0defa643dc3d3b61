"""`qunguan rumors match`, `qunguan rumors cascades` and `qunguan eval rumors` end to end."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from qunguan.cli.main import app
from qunguan.rumors.evaluation import Post, bcubed, claim_matching, label_rate, load_checked

runner = CliRunner()
DATA = Path(__file__).parent / "data"


def write(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)
                              for x in lines) + "\n", encoding="utf-8")
    return path


BANK = [{"id": "d1", "claim": "喝高度白酒可以杀死新冠病毒，预防感染", "verdict": "false",
         "debunk_text": "饮酒不能预防新冠病毒感染。"},
        {"id": 2, "claim": "自来水厂被投毒，明天全市停水三天，赶紧囤水"}]


def test_match_writes_one_line_per_message(tmp_path: Path) -> None:
    bank = write(tmp_path / "bank.jsonl", BANK)
    msgs = write(tmp_path / "msgs.jsonl", [
        {"id": "a", "text": "【转】喝高度白酒可以殺死新冠病毒，預防感染！！"},
        {"id": "b", "text": "听说水厂被投毒了？要停水吗"},
        {"id": "c", "text": "   "},
    ])
    result = runner.invoke(app, ["rumors", "match", "--bank", str(bank), "--messages",
                                 str(msgs), "--top", "2"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["label"] == "d1"
    assert rows[0]["matches"][0] == {"debunk_id": "d1", "score": 1.0} or \
        rows[0]["matches"][0]["score"] >= 0.95
    assert rows[1]["matches"][0]["debunk_id"] == "2"
    assert rows[1]["label"] is None
    scores = [m["score"] for m in rows[1]["matches"]]
    assert scores == sorted(scores, reverse=True)
    assert rows[2] == {"id": "c", "matches": [], "label": None}


def test_match_reports_bad_message_lines_and_goes_on(tmp_path: Path) -> None:
    bank = write(tmp_path / "bank.jsonl", BANK)
    msgs = write(tmp_path / "msgs.jsonl", [
        {"id": "a", "text": "喝高度白酒可以杀死新冠病毒"}, "{not json", {"text": "no id"},
        {"id": "a", "text": "again"}, [1, 2], {"id": "z", "text": 5}])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["rumors", "match", "--bank", str(bank), "--messages",
                                 str(msgs), "--out", str(out)])
    assert result.exit_code == 1
    assert f"{msgs}:2: not JSON" in result.stderr
    assert f"{msgs}:3: `id` is missing" in result.stderr
    assert f"{msgs}:4: repeats id 'a'" in result.stderr
    assert f"{msgs}:5: not a JSON object" in result.stderr
    assert f"{msgs}:6: `text` must be a string" in result.stderr
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["a"]


def test_match_refuses_a_bad_bank(tmp_path: Path) -> None:
    bank = write(tmp_path / "bank.jsonl", [*BANK, {"id": "x", "claim": " "},
                                           {"id": "y", "claim": "某事", "verdict": "maybe"}])
    msgs = write(tmp_path / "msgs.jsonl", [{"id": "a", "text": "hi"}])
    result = runner.invoke(app, ["rumors", "match", "--bank", str(bank), "--messages",
                                 str(msgs)])
    assert result.exit_code == 1
    assert f"{bank}:3: `claim` is empty" in result.stderr
    assert f"{bank}:4: `verdict` must be one of" in result.stderr
    assert result.stdout == ""


def test_match_reads_phrasings_from_the_bank(tmp_path: Path) -> None:
    said = "听说东边那个水库的坝裂开了，晚上要垮，住下面的赶紧搬走"
    entry = {"id": "dam", "claim": "城东水库大坝出现裂缝，今晚可能决堤，下游居民连夜撤离"}
    msgs = write(tmp_path / "msgs.jsonl", [{"id": "a", "text": "【转】" + said}])

    def label(bank_rows: list[object]) -> object:
        bank = write(tmp_path / "bank.jsonl", bank_rows)
        result = runner.invoke(app, ["rumors", "match", "--bank", str(bank), "--messages",
                                     str(msgs)])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["label"]

    assert label([*BANK, entry]) is None
    assert label([*BANK, {**entry, "phrasings": [said, " "]}]) == "dam"
    bank = write(tmp_path / "bank.jsonl", [{**entry, "phrasings": said}])
    result = runner.invoke(app, ["rumors", "match", "--bank", str(bank), "--messages",
                                 str(msgs)])
    assert result.exit_code == 1
    assert f"{bank}:1: `phrasings` must be a list of strings" in result.stderr


def test_match_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rumors", "match", "--bank", str(tmp_path / "none.jsonl"),
                                 "--messages", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_cascades_command(tmp_path: Path) -> None:
    alarm = "紧急通知：今晚十点起全县停水停电三天，请大家马上储备饮用水和蜡烛"
    msgs = write(tmp_path / "msgs.jsonl", [
        {"id": "3", "text": "", "group": "g2", "sender": "u3", "ts": "2026-03-01T08:05:00Z",
         "forwarded_from": "1"},
        {"id": "1", "text": alarm, "group": "g1", "sender": "u1",
         "ts": "2026-03-01T16:00:00+08:00"},
        {"id": "2", "text": "【转】" + alarm, "group": "g3", "sender": "u2",
         "ts": "2026-03-01T08:30:00"},
        {"id": "4", "text": "明天上午九点开会", "group": "g1", "sender": "u1",
         "ts": "2026-03-01T09:00:00Z"},
        {"id": "5", "text": "bad", "ts": "yesterday"},
    ])
    result = runner.invoke(app, ["rumors", "cascades", "--messages", str(msgs)])
    assert result.exit_code == 1
    assert f"{msgs}:5: `ts` is not ISO 8601" in result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows == [{"id": "3", "cluster": "1"}, {"id": "1", "cluster": "1"},
                    {"id": "2", "cluster": "1"}, {"id": "4", "cluster": "4"}]


def test_eval_on_the_projects_own_fixtures() -> None:
    result = runner.invoke(app, ["eval", "rumors", "--data", str(DATA)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "MRR" in result.stdout
    assert "B-cubed" in result.stdout


def test_eval_says_plainly_when_the_data_is_absent(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "rumors", "--data", str(tmp_path)])
    assert result.exit_code == 0
    assert "no research data" in result.stderr


def test_small_evaluation_figures() -> None:
    from qunguan.rumors import Bank

    entries, posts = load_checked(DATA)
    bank = Bank(entries)
    ranking = claim_matching(bank, posts)
    assert ranking.n == 12
    assert ranking.recall_at_1 == 1.0
    assert ranking.labelled_wrong == 0.0
    news = [Post("n", "市图书馆本周六举办少儿绘本阅读活动，欢迎家长带孩子参加", "n")]
    assert label_rate(bank, [p.text for p in news]).labelled == 0.0


def test_bcubed() -> None:
    gold = {"a": "1", "b": "1", "c": "2"}
    assert bcubed(gold, gold) == (1.0, 1.0)
    p, r = bcubed({"a": "x", "b": "y", "c": "z"}, gold)
    assert p == 1.0
    assert r == (0.5 + 0.5 + 1) / 3
    p, r = bcubed({"a": "x", "b": "x", "c": "x"}, gold)
    assert r == 1.0
    assert p == (2 / 3 + 2 / 3 + 1 / 3) / 3


def test_review_loop_learns_confirmed_paraphrases() -> None:
    from qunguan.rumors import Bank, BankEntry
    from qunguan.rumors.evaluation import claim_matching_with_review

    kids = BankEntry("kids", "紧急扩散：有人开白色面包车在县城小学门口抢小孩，已经抢走三个孩子")
    dam = BankEntry("dam", "城东水库大坝出现裂缝，今晚可能决堤，下游居民连夜撤离")
    said = "家长注意：县城小学门口有面包车抢小孩，已经有孩子被抢走"
    posts = [  # given out of order: the loop takes them by time
        Post("3", said + "！！转发", "kids", "2020-01-03"),
        Post("1", said, "kids", "2020-01-01"),
        Post("2", "听说东边那个水库的坝裂开了，晚上要垮，住下面的赶紧搬走", "dam", "2020-01-02"),
        Post("4", said + "，电话13812345678", "kids", "2020-01-04"),
    ]
    plain = claim_matching(Bank([kids, dam]), posts)
    assert plain.labelled == 0.0  # without review nothing reaches the label threshold
    loop = claim_matching_with_review([kids, dam], posts, learnable=lambda t: "138" not in t)
    # Post 1 is suggested and confirmed; post 3, a copy of it, is then labelled on its own;
    # post 2 scores below "suggest" (nobody sees it); post 4 is labelled too (a copy with a
    # phone number added), and it is not reviewed, so nothing more is learned.
    assert (loop.reviewed, loop.confirmed, loop.learned, loop.not_learned) == (1, 1, 1, 0)
    assert loop.ranking.labelled == 0.5
    assert loop.ranking.labelled_wrong == 0.0
    assert [e.phrasings for e in loop.final] == [(said,), ()]
    # A reviewer's confirmation of a text that cannot be learned teaches nothing.
    loop = claim_matching_with_review([kids, dam], posts, learnable=lambda t: False)
    assert (loop.confirmed, loop.learned, loop.not_learned) == (3, 0, 3)
    assert loop.ranking.labelled == 0.0
