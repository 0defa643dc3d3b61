"""Each built-in detector on real-looking Chinese text, evasions included, through the
shipped default pack's rules (no database: these detectors never touch one)."""

from __future__ import annotations

from typing import Any

import pytest
from stdnum import luhn

from qunguan import screening
from qunguan.screening import Signal, VerdictKind, evaluate
from qunguan.screening.detectors import (
    FloodDetector,
    LexiconDetector,
    LinkDetector,
    PersonalDataDetector,
    RegexDetector,
)
from qunguan.screening.engine import default_pack
from qunguan.screening.lexicon import Matcher
from qunguan.screening.policy import compile_pack, parse_pack
from qunguan.screening.registry import ScreeningContext
from tests.cast import resident_id
from tests.screening.conftest import pack_files, rule_toml

# Invented, valid, and nobody's in the cast (the PII guard would flag a cast member's).
ID = resident_id("440305", "19870615", "271")
ID_X = next(resident_id("440305", "19870615", f"{n:03d}") for n in range(1000)
            if resident_id("440305", "19870615", f"{n:03d}").endswith("X"))
CARD = "622202100112345678" + luhn.calc_check_digit("622202100112345678")
MOBILE = "13822223333"
FULL = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def ctx(text: str, **kw: Any) -> ScreeningContext:
    base: dict[str, Any] = {"action": "post", "account_id": 1, "account_verified": True,
                            "group_id": 1, "group_category": "work", "group_tier": 1,
                            "text": text, "fingerprint": ""}
    return ScreeningContext(**{**base, **kw})


def signals(detector: Any, text: str, **kw: Any) -> list[Signal]:
    return list(detector.screen(None, ctx(text, **kw), default_pack().resources))


def fired(text: str, **kw: Any) -> dict[str, str]:
    """Rule id -> mode of every default-pack rule that fires on the text."""
    pack = default_pack()
    context = ctx(text, **kw)
    rules = pack.rules_for("pre", context)
    found: dict[str, list[Signal]] = {}
    for d in (LexiconDetector(), PersonalDataDetector(), FloodDetector(), LinkDetector()):
        found[d.name] = d.screen(None, context, pack.resources)  # type: ignore[arg-type]
    return {h.rule: h.mode for h in evaluate(rules, found, 0)}


# --- personal data ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    f"我的身份证号是{ID}，麻烦帮我登记一下",
    f"身份证：{ID[:6]} {ID[6:14]} {ID[14:]}",  # spaced out
    f"证件号{ID[:6]}-{ID[6:14]}-{ID[14:]}",  # dashed
    f"身份证号码{ID.translate(FULL)}",  # full-width digits
    f"{ID_X.lower()}是他的证件号",  # lower-case check letter
    f"身份证{ID[:4]}\u200b{ID[4:10]}\u2060{ID[10:]}",  # zero-width characters inside
    f"身份证{ID[:6]}  {ID[6:14]}  {ID[14:]}",  # double spaces
    f"身份证{ID[:6]}.{ID[6:14]}.{ID[14:]}",  # dots
    f"证件 {ID[:6]} - {ID[6:14]} _ {ID[14:]}",  # spaced dashes and underscores
    f"身份证{ID[:6]}·{ID[6:14]}·{ID[14:]}",  # middle dots
    f"身份证{ID[:6]}\u00ad{ID[6:]}",  # a soft hyphen
])
def test_resident_id_found_and_held(text: str) -> None:
    [sig] = signals(PersonalDataDetector(), text)
    assert (sig.label, sig.count) == ("resident_id", 1)
    assert ID not in str(sig.public())
    assert ID_X not in str(sig.public())
    assert fired(text) == {"pii.resident_id": "enforce"}


@pytest.mark.parametrize("text", [
    f"编号{ID[:-1]}{(int(ID[-1]) + 1) % 10 if ID[-1].isdigit() else 0}",  # wrong check digit
    "订单号440305198713151234，请查收",  # month 13: no such birth date
    "快递单号 7312345678901234567 明天到",
])
def test_numbers_that_are_not_resident_ids(text: str) -> None:
    assert "resident_id" not in {s.label for s in signals(PersonalDataDetector(), text)}


@pytest.mark.parametrize("text", [
    f"有事打我电话{MOBILE}",
    "联系人王老师 138 2222 3333",
    "手机：138-2222-3333",
    f"电话{MOBILE.translate(FULL)}",
    "电话138\u200b2222\u200c3333",  # zero-width space and non-joiner
    "电话 138.2222.3333",
    "电话 138  2222  3333",
])
def test_mobile_numbers_ask_to_confirm(text: str) -> None:
    [sig] = signals(PersonalDataDetector(), text)
    assert sig.label == "mobile"
    assert fired(text) == {"pii.mobile": "enforce"}


def test_a_list_of_mobile_numbers_is_held() -> None:
    text = "名单：" + "，".join(f"1382222{n:04d}" for n in range(6))
    [sig] = signals(PersonalDataDetector(), text)
    assert sig.count == 6
    assert fired(text) == {"pii.mobile": "enforce", "pii.mobile_list": "enforce"}


@pytest.mark.parametrize("text", [
    f"工资卡号{CARD}，开户行建设银行",
    f"卡号 {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:16]} {CARD[16:]}",
    f"转账到{CARD.translate(FULL)}",
])
def test_bank_card_with_luhn(text: str) -> None:
    [sig] = signals(PersonalDataDetector(), text)
    assert sig.label == "bank_card"
    assert fired(text) == {"pii.bank_card": "enforce"}


def test_separators_are_bounded() -> None:
    # Four spaces between the parts: two numbers, not one ID.
    assert signals(PersonalDataDetector(), f"编号{ID[:6]}    {ID[6:]}") == []


@pytest.mark.parametrize(("text", "kinds"), [
    ("本周五下午三点开会", []),
    (f"理由：他发了身份证{ID[:6]}\u200b{ID[6:]}", ["resident_id"]),
    (f"联系 138 2222 3333 或卡号 {CARD}", ["bank_card", "mobile"]),
    (f"{ID}，{CARD}，{MOBILE}", ["resident_id", "bank_card", "mobile"]),
])
def test_contains_personal_data(text: str, kinds: list[str]) -> None:
    assert screening.contains_personal_data(text) == kinds


def test_card_failing_luhn_is_not_a_card() -> None:
    bad = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)
    assert signals(PersonalDataDetector(), f"卡号{bad}") == []


# --- lexicons -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "rule"), [
    ("这份文件是机密，大家看完删掉", "confidential.classified"),
    ("這份是機密文件", "confidential.classified"),  # traditional characters
    ("附件为机 密级材料", "confidential.classified"),  # a space inside the word
    ("绝-密：关于调整的通知", "confidential.classified"),  # a separator
    ("机\u200b密件，请勿转发", "confidential.classified"),  # a zero-width space
    ("这是内部资料，不得外传", "confidential.internal"),
    ("內部文件請勿外傳", "confidential.internal"),
    ("告诉你一个秘密", "confidential.word"),
    ("招聘兼职刷单，日结，刷单返利高", "fraud.solicitation"),
    ("贷款秒批，黑户可贷，私聊", "fraud.solicitation"),
    ("专业代开发票，各行业均可", "fraud.solicitation"),
    ("新开网上赌场，真人荷官在线发牌", "fraud.gambling"),
    ("时时彩计划，稳定盈利", "fraud.gambling"),
    ("博 彩 平 台 注 册 送 彩 金", "fraud.gambling"),
    ("你这个脑残，懂不懂", "conduct.abuse"),
    ("你再说一句试试，我弄死你", "conduct.threat"),
])
def test_lexicon_rules_fire_through_evasions(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize("text", [
    "本周五下午三点开支部会议，请准时参加。",
    "明天上午九点起停水检修，请大家提前储水。",
    "下周一提交季度报告初稿，大家把各自部分发我。",
    "这个机会很好，密切关注",  # 机 and 密 apart are nothing
    "忘记手机密码了，怎么找回？",  # 手机 + 密码, not 机密
    "请大家设置手机密保问题",
    "开机密码输错三次会锁定",
    "文件的保密级别请按规定标注",  # 保密 + 级别, not 密级
    "精密级轴承明天到货",
    "近期要杜绝密集聚集",  # 杜绝 + 密集, not 绝密
    "本通知不涉密，可在群内转发",  # a notice saying it is not classified
    "非涉密人员请在门口登记",
])
def test_ordinary_posts_fire_nothing(text: str) -> None:
    assert fired(text) == {}


def test_a_term_outside_an_exception_still_fires() -> None:
    assert fired("手机密码是机密，不要发群里") == {"confidential.classified": "enforce"}


def test_lexicon_signal_counts_distinct_terms() -> None:
    sigs = {s.label: s for s in signals(LexiconDetector(), "刷单返利！刷单返利！代开发票")}
    assert sigs["fraud"].count == 3  # 刷单返利, 刷单 (inside it), 代开发票
    assert sigs["fraud"].evidence["terms"] == ["代开发票", "刷单", "刷单返利"]


def test_matcher_agrees_with_naive_search() -> None:
    terms = ["机密", "密", "内部资料", "资料", "he", "she", "hers"]
    text = "ushers 内部资料机密"
    m = Matcher(terms)
    got = sorted((s, e, m.terms[i]) for s, e, i in m.find(text))
    naive = sorted((i, i + len(t), t) for t in terms for i in range(len(text))
                   if text.startswith(t, i))
    assert got == naive


# --- regex, flood, links ------------------------------------------------------------------


def test_regex_condition_from_the_rule() -> None:
    rules = rule_toml("ads.wechat", "label", "regex",
                      when='patterns = ["加\\\\s*v(x|信)?\\\\s*[:：]?\\\\s*[a-z0-9_-]{5,}"]')
    pack = compile_pack(parse_pack(pack_files(rules)), 7)
    context = ctx("优惠多多，加V：abc_12345 详聊")
    [sig] = RegexDetector().screen(None, context, pack.resources)  # type: ignore[arg-type]
    assert sig.label == "ads.wechat#0"
    assert "abc_12345" not in str(sig.public())
    [hit] = evaluate(pack.rules_for("pre", context), {"regex": [sig]}, 7)
    assert (hit.rule, hit.action, hit.pack_version) == ("ads.wechat", VerdictKind.LABEL, 7)


@pytest.mark.parametrize(("recent", "expected"), [
    (0, {}), (23, {}), (24, {"flood.fast": "enforce"}),
    (49, {"flood.fast": "enforce", "flood.burst": "enforce"}),
])
def test_flood_thresholds(recent: int, expected: dict[str, str]) -> None:
    [sig] = signals(FloodDetector(), "收到", recent_messages=recent)
    assert sig.count == recent + 1
    assert fired("收到", recent_messages=recent, first_in_group=False) == expected


def test_links() -> None:
    text = "详情见 http://t.cn/aKB6SL 和 www.example.com/a"
    sigs = {s.label: s for s in signals(LinkDetector(), text, first_in_group=True)}
    assert sigs["url"].count == 2
    assert sigs["short_link"].evidence["hosts"] == ["example.com", "t.cn"]
    assert "first_message_link" in sigs
    assert fired(text, first_in_group=True) == {"links.short_link": "enforce",
                                                "links.first_message": "shadow"}
    assert fired(text, first_in_group=False) == {"links.short_link": "enforce"}
    assert signals(LinkDetector(), "今天天气不错。明天见。") == []
