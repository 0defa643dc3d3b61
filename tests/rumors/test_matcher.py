"""The layered matcher on invented texts (no research data in the repository)."""

from __future__ import annotations

import random
import time

import pytest

from qunguan.rumors import Bank, BankEntry, Evidence, Thresholds, fuse
from qunguan.rumors.lexical import LexicalIndex
from qunguan.rumors.nearcopy import NearCopyIndex
from qunguan.rumors.text import (
    CHUNK_CHARS,
    CHUNK_STRIDE,
    HEAD_CHARS,
    MAX_CHUNKS,
    TAIL_CHARS,
    grams,
    prepare,
    prepare_with_chunks,
    shingles,
)

KIDS = BankEntry("kids", "紧急扩散：有人开白色面包车在县城小学门口抢小孩，已经抢走三个孩子",
                 "公安局通报：经核实，县城未发生抢小孩案件，系谣言。")
LIQUOR = BankEntry("liquor", "喝高度白酒可以杀死新冠病毒，预防感染",
                   "饮酒不能预防新冠病毒感染。")
TOWER = BankEntry("tower", "5G信号塔会传播新冠病毒，各地正在拆除基站",
                  "病毒不会通过无线电波传播。")
WATER = BankEntry("water", "自来水厂被投毒，明天全市停水三天，赶紧囤水",
                  "水务集团：供水正常，未发生投毒。")


@pytest.fixture
def bank() -> Bank:
    return Bank([KIDS, LIQUOR, TOWER, WATER])


def top(bank: Bank, text: str) -> tuple[str | None, float, str | None]:
    found = bank.match(text, 3)
    return (found[0].debunk_id if found else None, found[0].score if found else 0.0,
            bank.label(found))


@pytest.mark.parametrize("text", [
    "紧急扩散：有人开白色面包车在县城小学门口抢小孩，已经抢走三个孩子",
    "緊急擴散：有人開白色麵包車在縣城小學門口搶小孩，已經搶走三個孩子",  # traditional
    "紧 急 扩 散：有人开白色面包车在县城小学门口抢小孩，已经抢走三个孩子",  # spaced out
    "【转】紧急扩散：有人开白色面包车在县城小学门口抢小孩，已经抢走三个孩子",
    "紧急扩散：有人开白色面包车在县城小学门口抢小孩，已经抢走三个孩子//@李四:转给大家",
    "紧急扩散：有人开白色面包车在县城小学门口抢小孩，已经抢走３个孩子！！！🙏🙏",
])
def test_copies_with_evasions_are_labelled(bank: Bank, text: str) -> None:
    best, score, label = top(bank, text)
    assert best == "kids"
    assert score >= bank.thresholds.label
    assert label == "kids"


def test_exact_layer_scores_one(bank: Bank) -> None:
    found = bank.match("喝高度白酒可以殺死新冠病毒，預防感染", 1)
    assert found[0].evidence.exact
    assert found[0].score == 1.0


def test_near_verbatim_layer_sees_small_edits() -> None:
    index = NearCopyIndex()
    index.add("kids", shingles(prepare(KIDS.claim)))
    edited = "紧急扩散：有人开白色面包车在县城小学门口抢小孩，已抢走三个孩子了"
    [(key, jaccard)] = index.query(shingles(prepare(edited)))
    assert key == "kids"
    assert 0.6 < jaccard < 1.0
    assert index.query(shingles(prepare("今天食堂的红烧肉很好吃"))) == []


def test_lexical_layer_ranks_paraphrases() -> None:
    index = LexicalIndex()
    docs = index.add_many(grams(prepare(e.claim)) for e in (KIDS, LIQUOR, TOWER, WATER))
    found = index.query(grams(prepare("听说喝白酒能杀新冠病毒？")), 2)
    assert found[0].doc == docs[1]
    assert found[0].query_cover > found[1].query_cover


def test_paraphrase_is_suggested_not_labelled(bank: Bank) -> None:
    best, score, label = top(bank, "朋友说县城小学门口有面包车抢孩子，大家接孩子注意")
    assert best == "kids"
    assert bank.thresholds.suggest > 0.5
    assert score < bank.thresholds.label
    assert label is None


@pytest.mark.parametrize("text", ["", "   ", "\u200b\n\t", "🙏🙏", "转发微博"])
def test_empty_and_blank_never_match(bank: Bank, text: str) -> None:
    assert bank.match(text) == []


def test_unrelated_text_is_not_labelled(bank: Bank) -> None:
    for text in ["今天下午三点在会议室开党支部会议，请准时参加",
                 "市卫健委：本市新增新冠病毒疫苗接种点十个，请市民就近接种",
                 "县城小学明天举行运动会，家长可以来观看"]:
        found = bank.match(text)
        assert bank.label(found) is None, text


def test_long_message_is_cut_and_still_matched(bank: Bank) -> None:
    filler = "今天天气很好，我们去公园散步，看到很多人在跳广场舞。" * 400
    text = KIDS.claim + filler
    assert len(text) > 10_000
    assert len(prepare(text)) <= HEAD_CHARS + TAIL_CHARS + 1
    started = time.perf_counter()
    best, _, _ = top(bank, text)
    assert time.perf_counter() - started < 0.5
    assert best == "kids"


FILLER = "今天天气很好，我们去公园散步，看到很多人在跳广场舞。"


@pytest.mark.parametrize("offset", [HEAD_CHARS - 10, 700, 1000, 1300])
def test_claim_quoted_in_the_middle_of_a_long_message_is_found(bank: Bank, offset: int) -> None:
    # The head-and-tail cut drops the middle; the chunks of the middle still match it.
    text = (FILLER * 100)[:offset] + WATER.claim + FILLER * 40
    assert WATER.claim not in prepare(text)
    best, score, _ = top(bank, text)
    assert best == "water"
    assert score >= bank.thresholds.suggest


def test_chunks_cover_the_middle_only_of_long_texts() -> None:
    short = "短消息，没有中间部分"
    assert prepare_with_chunks(short) == (prepare(short), [])
    text = "".join(f"第{i}句话说的是另一件事情。" for i in range(400))
    prepared, chunks = prepare_with_chunks(text)
    assert prepared == prepare(text)
    assert len(chunks) == MAX_CHUNKS
    assert all(len(c) == CHUNK_CHARS for c in chunks)
    # Consecutive chunks overlap, so a claim shorter than the overlap lies whole in one.
    overlap = CHUNK_CHARS - CHUNK_STRIDE
    assert chunks[0][-overlap:] == chunks[1][:overlap]
    assert chunks[0][:overlap] == prepared[HEAD_CHARS - overlap : HEAD_CHARS]


def test_add_matches_immediately_and_retire_stops_matching(bank: Bank) -> None:
    salt = BankEntry("salt", "碘盐可以防辐射，超市食盐被抢购一空，赶紧去买")
    assert top(bank, salt.claim)[0] != "salt"
    bank.add(salt)
    assert top(bank, salt.claim)[2] == "salt"
    assert "salt" in bank
    bank.retire("salt")
    assert "salt" not in bank
    assert all(m.debunk_id != "salt" for m in bank.match(salt.claim, 10))
    bank.retire("salt")  # twice: ignored
    bank.add(salt)  # back again
    assert top(bank, salt.claim)[2] == "salt"


def test_replacing_an_entry_uses_the_new_claim(bank: Bank) -> None:
    bank.add(BankEntry("water", "某品牌矿泉水含有致癌物，已被全国下架"))
    assert len(bank) == 4
    assert top(bank, WATER.claim)[2] is None
    assert top(bank, "某品牌矿泉水含有致癌物，已被全国下架")[2] == "water"


def test_incremental_bank_ranks_like_a_bulk_one() -> None:
    entries = [KIDS, LIQUOR, TOWER, WATER]
    grown = Bank()
    for e in entries:
        grown.add(e)
    bulk = Bank(entries)
    for text in [KIDS.claim, "白酒杀病毒", "5G塔拆除", "水厂投毒停水"]:
        assert [m.debunk_id for m in grown.match(text)][:1] == \
            [m.debunk_id for m in bulk.match(text)][:1]


def test_many_additions_reweigh_without_losing_entries() -> None:
    bank = Bank()
    for i in range(300):
        bank.add(BankEntry(f"e{i}", f"第{i}号谣言：某地第{i}号水库大坝决堤，下游{i}个村庄被淹"))
    for i in range(0, 300, 2):
        bank.retire(f"e{i}")
    assert len(bank) == 150
    found = bank.match("第17号谣言：某地第17号水库大坝决堤，下游17个村庄被淹", 1)
    assert found[0].debunk_id == "e17"
    assert found[0].score == 1.0


def test_fusion_scale() -> None:
    th = Thresholds()
    assert fuse(Evidence(exact=True)) == 1.0
    assert fuse(Evidence()) == 0.0
    assert fuse(Evidence(claim_cover=th.raw_label, message_cover=th.raw_label)) == \
        pytest.approx(th.label)
    assert fuse(Evidence(near_jaccard=th.raw_suggest)) == pytest.approx(th.suggest)
    assert fuse(Evidence(near_jaccard=1.0)) == 1.0
    scores = [fuse(Evidence(claim_cover=x / 20, message_cover=x / 20)) for x in range(21)]
    assert scores == sorted(scores)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_custom_thresholds_change_labels() -> None:
    strict = Bank([KIDS], thresholds=Thresholds(raw_label=0.99))
    text = "【转】紧急扩散：有人开白色面包车在县城小学门口抢小孩，已经抢走三个孩子，大家注意"
    found = strict.match(text)
    assert strict.label(found) is None
    assert strict.suggestions(found)[0].debunk_id == "kids"
    assert Bank([KIDS]).label(Bank([KIDS]).match(text)) == "kids"


def _brute_force(docs: list[set[str]], live: set[int], query: set[str]) -> dict[int, float]:
    """Reference covers of the lexical layer, from its definition (one IDF per n-gram from
    the live documents; n-grams in more than MAX_DF_SHARE of them count in neither cover)."""
    import math

    from qunguan.rumors import lexical

    n = len(live)
    df: dict[str, int] = {}
    for d in live:
        for g in docs[d]:
            df[g] = df.get(g, 0) + 1

    def w(g: str) -> float:
        return math.log((n + 1) / (df.get(g, 0) + 1)) + 1.0

    cap = max(lexical.MAX_DF_SHARE * n, lexical.MIN_MAX_DF)
    q_mass = sum(w(g) for g in query)
    out = {}
    for d in live:
        shared = [g for g in docs[d] & query if df[g] <= cap]
        doc_cover = sum(w(g) for g in shared) / sum(w(g) for g in docs[d])
        out[d] = round(math.sqrt(doc_cover * sum(w(g) for g in shared) / q_mass), 6)
    return out


def test_lexical_stop_grams_and_delta_keep_exact_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    from qunguan.rumors import lexical

    # Small bounds so that a 120-document index has stop-grams, a delta and merges.
    monkeypatch.setattr(lexical, "MIN_STOP_DF", 3)
    monkeypatch.setattr(lexical, "MIN_MAX_DF", 200)
    monkeypatch.setattr(lexical, "MIN_CANDIDATES", 8)
    monkeypatch.setattr(lexical, "MIN_DELTA_DOCS", 10)
    texts = [f"某地第{i}号水库{'大坝决堤' if i % 3 else '出现险情'}，下游{i % 7}个村庄被淹"
             for i in range(120)]
    docs = [grams(prepare(t)) for t in texts]
    index = LexicalIndex()
    numbers = index.add_many(docs[:40])
    numbers += [index.add(d) for d in docs[40:]]  # through the delta, with merges
    for d in range(0, 120, 5):
        index.retire(numbers[d])
    live = {d for d in range(120) if d % 5}
    index.merge()  # one IDF snapshot, as the reference has
    for probe in ["第17号水库大坝决堤，下游3个村庄被淹", "水库出现险情", "第88号水库"]:
        query = grams(prepare(probe))
        expected = _brute_force(docs, live, query)
        found = index.query(query, 3)
        got = [round((o.doc_cover * o.query_cover) ** 0.5, 6) for o in found]
        # The best document is found, and every document returned carries its exact score
        # (a document sharing only stop-grams with the query may be left out: by design).
        assert got[0] == pytest.approx(max(expected.values()), abs=1e-5), probe
        assert got == pytest.approx([expected[o.doc] for o in found], abs=1e-5), probe
        assert got == sorted(got, reverse=True)
        assert all(o.doc in live for o in found)


# --- phrasings: other forms of a claim, each matched like the claim ------------------------

TRUMP = BankEntry("trump", "川皇宣布明天起全面禁止中国留学生入境", "外交部：未收到任何此类通知。")
TRUMP_SAID = "特朗普签署命令，下周开始所有中国学生都不能去美国读书了，大家快转告"
TRUMP_FORM = "特朗普签署命令，所有中国学生都不能去美国读书"


def test_a_phrasing_finds_what_the_claim_misses() -> None:
    plain = Bank([TRUMP, KIDS, LIQUOR])
    before = plain.match(TRUMP_SAID, 3)
    assert not before or before[0].debunk_id != "trump" \
        or before[0].score < plain.thresholds.suggest
    taught = BankEntry("trump", TRUMP.claim, TRUMP.debunk_text,
                       phrasings=(TRUMP_FORM,))
    bank = Bank([taught, KIDS, LIQUOR])
    found = bank.match(TRUMP_SAID, 3)
    assert found[0].debunk_id == "trump"
    assert found[0].score >= bank.thresholds.suggest
    # One entry, one row, however many of its forms matched.
    assert [m.debunk_id for m in found].count("trump") == 1
    # An exact copy of a phrasing is an exact copy of the entry.
    assert bank.match("【转】" + TRUMP_FORM, 1)[0].score == 1.0


def test_phrasings_are_added_and_retired_with_their_entry() -> None:
    bank = Bank([KIDS, LIQUOR])
    taught = BankEntry("trump", TRUMP.claim, phrasings=(TRUMP_FORM, "美国总统不让中国留学生入境了"))
    bank.add(taught)
    assert bank.match(TRUMP_SAID, 1)[0].debunk_id == "trump"
    bank.add(BankEntry("trump", TRUMP.claim))  # replaced without its phrasings
    found = bank.match(TRUMP_SAID, 3)
    assert not found or found[0].debunk_id != "trump" \
        or found[0].score < bank.thresholds.suggest
    bank.retire("trump")
    assert all(m.debunk_id != "trump" for m in bank.match(TRUMP.claim, 5))
    assert all(m.debunk_id != "trump" for m in bank.match("美国总统不让中国留学生入境了", 5))
    assert bank.match(KIDS.claim, 1)[0].debunk_id == "kids"


def test_bulk_and_incremental_phrasings_rank_alike() -> None:
    taught = BankEntry("trump", TRUMP.claim, phrasings=(TRUMP_FORM, "川皇", TRUMP.claim))
    bulk = Bank([KIDS, taught, LIQUOR, TOWER])
    grown = Bank([KIDS])
    for e in (taught, LIQUOR, TOWER):
        grown.add(e)
    for text in (TRUMP_SAID, KIDS.claim, "喝白酒能杀死病毒吗", "川皇"):
        assert [m.debunk_id for m in bulk.match(text, 4)][:1] \
            == [m.debunk_id for m in grown.match(text, 4)][:1]
    # A form too short to index is still an exact form of its entry.
    assert bulk.match("川皇", 1)[0].score == 1.0


def test_an_entry_with_many_phrasings_does_not_crowd_the_others_out() -> None:
    """Each phrasing is a document of its own in the lexical index: an entry holding many close
    variants (as the review queue teaches them) must not fill the candidate list and push out
    another entry that the message repeats."""
    rng = random.Random(7)
    pool = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工"
    tail = "".join(rng.choice(pool) for _ in range(300))
    claim_b = "喝板蓝根能预防新冠病毒感染"
    message = f"{claim_b}！{tail}"
    scores = []
    for n in (0, 5, 20, 50):
        variants = tuple("".join(rng.choice(pool) for _ in range(20)) + tail for _ in range(n))
        bank = Bank([BankEntry("A", f"某地小区封闭管理{tail}", phrasings=variants),
                     BankEntry("B", claim_b)])
        found = {m.debunk_id: m.score for m in bank.match(message, top=5)}
        assert "B" in found, n
        scores.append(found["B"])
    assert min(scores) >= bank.thresholds.suggest


def test_ties_go_to_the_older_numeric_id() -> None:
    """Server ids are numbers kept as strings: "9" is older than "10" and wins a tie."""
    bank = Bank([BankEntry("10", "喝板蓝根能预防新冠病毒感染"),
                 BankEntry("9", "喝板蓝根能预防新冠病毒感染")])
    assert [m.debunk_id for m in bank.match("喝板蓝根能预防新冠病毒感染", top=2)] == ["9", "10"]
