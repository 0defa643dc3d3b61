"""Policy packs as files: validation with file and line, and the `qunguan policy` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord
from qunguan.screening.models import PolicyPack
from qunguan.screening.policy import (
    DEFAULT_PACK_DIR,
    PackInvalid,
    load_default_pack,
    parse_pack,
    read_pack_dir,
)
from tests.cli.test_cli import Qunguan
from tests.screening.conftest import PACK_TOML, pack_files

GOOD = '''# a comment
[[rule]]
id = "fraud.hold"
action = "hold"
severity = 4
reason = { zh = "疑似诈骗", en = "Looks like fraud" }

[[rule.when]]
detector = "lexicon"
labels = ["fraud"]
'''


def errors_of(files: dict[str, str]) -> list[str]:
    with pytest.raises(PackInvalid) as info:
        parse_pack(files)
    return [str(e) for e in info.value.errors]


def test_the_default_pack_is_valid_and_has_no_opinion_rule() -> None:
    pack = load_default_pack()
    ids = {r.id for r in pack.rules}
    assert {"pii.resident_id", "confidential.classified", "confidential.internal",
            "fraud.solicitation", "fraud.gambling", "conduct.abuse", "flood.fast",
            "links.first_message"} <= ids
    assert all(r.reason_zh and r.reason_en for r in pack.rules)
    assert not any("politic" in (r.id + r.description).lower() for r in pack.rules)


def test_a_good_pack_parses() -> None:
    pack = parse_pack(pack_files(GOOD, {"fraud": "刷单返利\n# 注释\n\n貸款秒批\n"}))
    [rule] = pack.rules
    assert (rule.id, rule.action.label, rule.mode, rule.stage, rule.line) == (
        "fraud.hold", "hold", "enforce", "pre", 2)
    assert pack.lexicons["fraud"] == ("刷单返利", "贷款秒批")  # normalised like the texts
    assert len(pack.digest) == 64


@pytest.mark.parametrize(("rules", "expected"), [
    (GOOD.replace('severity = 4', 'severity = 4\nseverity = 5'),
     "rules/test.toml:6: TOML syntax"),
    (GOOD.replace('action = "hold"', 'action = "ban"'),
     "rules/test.toml:4: action must be one of"),
    (GOOD.replace('detector = "lexicon"', 'detector = "mind_reader"'),
     "rules/test.toml:9: unknown detector 'mind_reader'"),
    (GOOD.replace('severity = 4', 'severity = 9'),
     "rules/test.toml:5: severity must be an integer from 1 to 5"),
    (GOOD.replace(', en = "Looks like fraud"', ''),
     "rules/test.toml:6: reason.en is missing or empty"),
    (GOOD.replace('severity = 4', 'severity = 4\ncolour = "red"'),
     "rules/test.toml:6: unknown rule key 'colour'"),
    (GOOD.replace('labels = ["fraud"]', 'labels = ["fraud"]\nmin_cuont = 2'),
     "rules/test.toml:11: unknown condition key 'min_cuont'"),
    (GOOD.replace('labels = ["fraud"]', 'labels = ["gossip"]'),
     "rules/test.toml:10: no lexicon 'gossip'"),
    (GOOD + GOOD.replace("# a comment\n", ""),
     "rules/test.toml:12: duplicate rule id 'fraud.hold'"),
    (GOOD.replace('severity = 4', 'severity = 4\nscope = { categories = ["chess_club"] }'),
     "rules/test.toml:6: unknown category 'chess_club'"),
    (GOOD.replace('severity = 4', 'severity = 4\nmode = "loud"'),
     "rules/test.toml:6: mode must be one of"),
    (GOOD.replace('detector = "lexicon"\nlabels = ["fraud"]',
                  'detector = "regex"\npatterns = ["(unclosed"]'),
     "rules/test.toml:10: bad regular expression"),
    (GOOD.replace('detector = "lexicon"\nlabels = ["fraud"]',
                  'detector = "personal_data"\nlabels = ["blood_type"]'),
     "rules/test.toml:10: detector 'personal_data' never reports label 'blood_type'"),
])
def test_errors_name_file_and_line(rules: str, expected: str) -> None:
    errors = errors_of(pack_files(rules, {"fraud": "刷单返利\n"}))
    assert any(e.startswith(expected) for e in errors), errors


def test_lexicon_exceptions_parse_and_mask_only_their_own_lexicon() -> None:
    from qunguan.screening.detectors import LexiconDetector
    from qunguan.screening.policy import compile_pack
    from tests.screening.test_detectors import ctx

    pack = parse_pack(pack_files(GOOD, {"fraud": "机密\n! 手機密碼  # an ordinary word\n",
                                        "other": "机密\n"}))
    assert pack.lexicons["fraud"] == ("机密",)
    assert pack.exceptions == {"fraud": ("手机密码",)}  # normalised like the terms
    resources = compile_pack(pack, 1).resources
    found = {s.label: s.evidence["terms"] for s in LexiconDetector().screen(
        None, ctx("忘记手机密码了"), resources)}  # type: ignore[arg-type]
    assert found == {"other": ["机密"]}
    labels = {s.label for s in LexiconDetector().screen(
        None, ctx("手机密码是机密"), resources)}  # type: ignore[arg-type]
    assert labels == {"fraud", "other"}


def test_an_exception_must_contain_a_term() -> None:
    errors = errors_of(pack_files(GOOD, {"fraud": "刷单返利\n!手机密码\n"}))
    assert errors == ["lexicons/fraud.txt:2: exception '手机密码' contains none of the "
                      "lexicon's terms"]


def test_pack_level_errors() -> None:
    assert errors_of({"pack.toml": PACK_TOML}) == ["rules/: the pack has no rule files"]
    errors = errors_of({**pack_files(GOOD, {"fraud": "# 只有注释\n\n"}),
                        "pack.toml": 'name = ""\nowner = "x"\n', "notes.md": "hi"})
    assert "lexicons/fraud.txt:1: the lexicon has no terms" in errors
    assert "pack.toml:2: unknown key 'owner' (known: description, name)" in errors
    assert "pack.toml:1: name = \"…\" is required" in errors
    assert any(e.startswith("notes.md: not part of a pack") for e in errors)


def test_confirm_cannot_follow_a_post_send_detector() -> None:
    from qunguan import screening
    from qunguan.screening import VerdictKind
    from tests.screening.conftest import FakeDetector, rule_toml

    screening.register_detector(FakeDetector("late", VerdictKind.LABEL, "x", stage="post"))
    try:
        errors = errors_of(pack_files(rule_toml("late.ask", "confirm", "late")))
        assert errors == ["rules/test.toml:3: confirm needs the sender, so it cannot follow "
                          "a post-send detector"]
        [rule] = parse_pack(pack_files(rule_toml("late.hold", "hold", "late"))).rules
        assert rule.stage == "post"
    finally:
        screening.unregister_detector("late")


def test_read_pack_dir_reads_the_shipped_pack() -> None:
    files = read_pack_dir(DEFAULT_PACK_DIR)
    assert "pack.toml" in files
    assert "lexicons/classified.txt" in files
    with pytest.raises(PackInvalid):
        read_pack_dir(DEFAULT_PACK_DIR / "nope")


# --- the command --------------------------------------------------------------------------


def write_pack(root: Path, rules: str, lexicon: str = "刷单返利\n") -> Path:
    (root / "rules").mkdir(parents=True)
    (root / "lexicons").mkdir()
    (root / "pack.toml").write_text('name = "mine"\n', encoding="utf-8")
    (root / "rules" / "main.toml").write_text(rules, encoding="utf-8")
    (root / "lexicons" / "fraud.txt").write_text(lexicon, encoding="utf-8")
    return root


@pytest.fixture
def qunguan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Qunguan:
    monkeypatch.chdir(tmp_path)
    q = Qunguan(tmp_path)
    q("migrate")
    return q


def test_check_prints_rules_or_errors(qunguan: Qunguan, tmp_path: Path) -> None:
    out = qunguan("policy", "check", str(DEFAULT_PACK_DIR))
    assert "pii.resident_id" in out
    shipped = len(parse_pack(read_pack_dir(DEFAULT_PACK_DIR)).rules)
    assert shipped >= 15  # personal data, confidentiality, fraud, conduct, flooding, rumours…
    assert f"{shipped} rules, valid" in out
    bad = write_pack(tmp_path / "bad", GOOD.replace('action = "hold"', 'action = "ban"'))
    out = qunguan("policy", "check", str(bad), code=1)
    assert "rules/main.toml:4: action must be one of" in out
    assert "1 error(s)" in out


def test_load_activates_a_valid_pack_only(qunguan: Qunguan, tmp_path: Path) -> None:
    assert "the shipped default, never loaded" in qunguan("policy", "show")
    good = write_pack(tmp_path / "good", GOOD)
    out = qunguan("policy", "load", str(good))
    assert "'mine' is active as version 1" in out
    bad = write_pack(tmp_path / "bad", GOOD.replace('labels = ["fraud"]', 'labels = ["x"]'))
    out = qunguan("policy", "load", str(bad), code=1)
    assert "rules/main.toml:10: no lexicon 'x'" in out
    with qunguan.session() as s:
        rows = list(s.scalars(select(PolicyPack)))
        assert [(r.version, r.active, r.name) for r in rows] == [(1, True, "mine")]
        assert rows[0].files["lexicons/fraud.txt"] == "刷单返利\n"
        [audit] = s.scalars(select(AuditRecord).where(
            AuditRecord.event_type == int(EventType.POLICY_LOADED)))
        assert audit.extra["rules"] == {"fraud.hold": "enforce"}
        assert (audit.subject_type, audit.subject_id) == ("policy_pack", "1")
    out = qunguan("policy", "load", str(DEFAULT_PACK_DIR), "--database-url", qunguan.url)
    assert "version 2" in out
    assert "version 2" in qunguan("policy", "show")
    with qunguan.session() as s:
        assert [(r.version, r.active) for r in s.scalars(
            select(PolicyPack).order_by(PolicyPack.version))] == [(1, False), (2, True)]


# --- concurrent loads ---------------------------------------------------------------------


@pytest.fixture
def postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises every writer (BEGIN IMMEDIATE): no race to test")


@pytest.mark.usefixtures("postgresql_only")
def test_concurrent_loads_take_turns(app: Any) -> None:
    """Four operators load packs at the same moment: each becomes its own version, none fails
    on the unique version, and exactly the last one is active."""
    from tests.groups.test_concurrency import run_together
    from tests.screening.conftest import load_pack

    def load(n: int) -> int:
        return load_pack(app, pack_files(GOOD, {"fraud": f"刷单返利{n}\n"})).version

    versions = run_together(4, load, list(range(4)))
    assert sorted(versions) == [1, 2, 3, 4]
    uow = app.state.uows()
    try:
        rows = list(uow.session.scalars(select(PolicyPack).order_by(PolicyPack.version)))
        assert [r.active for r in rows] == [False, False, False, True]
        audits = uow.session.scalars(select(AuditRecord).where(
            AuditRecord.event_type == int(EventType.POLICY_LOADED)))
        assert sorted(int(a.subject_id or 0) for a in audits) == [1, 2, 3, 4]
    finally:
        uow.close()
