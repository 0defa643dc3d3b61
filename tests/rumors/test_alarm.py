"""Alarm-claim friction: the committed model loads and scores invented texts sensibly, the
detector reports a score and cues (never the text), and the default pack's rule asks the
sender to confirm an alarm, end to end through the API."""

from __future__ import annotations

import tomllib
import zlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from qunguan.kernel.events import EventType
from qunguan.rumors import alarm
from qunguan.rumors.alarm import (
    MODEL_PATH,
    SHAPES,
    AlarmDetector,
    AlarmModel,
    alarm_cues,
    default_model,
    friction,
    hashed_grams,
)
from qunguan.screening import ScreeningContext, detectors
from qunguan.screening.models import ScreeningHit
from qunguan.screening.registry import NO_RESOURCES
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.messaging.conftest import (  # noqa: F401  (gid: the fixture)
    gid,
    message_row,
    post,
    posted,
)

RULE_FILE = (Path(alarm.__file__).parent.parent / "screening" / "packs" / "default" / "rules"
             / "alarm.toml")
# Invented texts, written for this test.
ALARMS = [
    "紧急扩散！今天下午在人民公园有人贩子抢小孩，已经抢走三个了，看到的家长马上转发告诉家人！",
    "速看！自来水厂被人投毒了，这几天千万不要喝自来水，互相转告，转发给你关心的人！",
    "紧急通知：明天起全市停水停电三天，请大家赶紧储水，看到请转发到每个群！",
]
ORDINARY = [
    "本周五下午三点在二楼会议室开会，请各位准时参加。",
    "附件是第三季度的报表，请各位老师在周三前查收并反馈意见。",
    "大家中午吃什么？食堂今天有红烧肉，要不要一起去？",
    "请勿转发：这份排班表只供本组同事参考，下周一起执行。",
    "【寻人】市公安局发布：一名7岁男孩于昨日下午在城西公园走失，身穿红色上衣，请知情者联系警方。",
]
REASON = ("这条消息核实过吗？来源是哪里？", "Have you verified this? Where is it from?")


def test_committed_model_loads_with_its_parameters() -> None:
    assert MODEL_PATH.stat().st_size < 3_000_000
    model = AlarmModel.load(MODEL_PATH)
    assert model.buckets == 1 << 18
    assert model.orders == (1, 2, 3)
    assert model.cues
    assert len(model.cue_weights) == len(model.cues)
    assert len(model.shape_weights) == len(SHAPES)
    assert 0.5 < model.threshold < 1.0


def test_the_rule_uses_the_model_threshold() -> None:
    rules = tomllib.loads(RULE_FILE.read_text(encoding="utf-8"))["rule"]
    [rule] = [r for r in rules if r["id"] == "rumors.alarm"]
    assert (rule["action"], rule["match"]) == ("confirm", "all")
    assert (rule["reason"]["zh"], rule["reason"]["en"]) == REASON
    [score] = [w for w in rule["when"] if w["labels"] == ["alarm"]]
    assert score["min_score"] == default_model().threshold


@pytest.mark.parametrize("text", ALARMS)
def test_alarms_score_high_and_prompt(text: str) -> None:
    assert default_model().score(text) >= default_model().threshold
    assert friction(text)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_and_official_texts_do_not_prompt(text: str) -> None:
    assert not friction(text)


def test_short_and_empty_texts_report_nothing() -> None:
    for text in ("", "   ", "收到", "紧急扩散！", "\u200b\u200b"):
        assert _signals(text) == []


def test_alarm_scores_above_ordinary() -> None:
    model = default_model()
    assert min(model.score(t) for t in ALARMS) > model.score(ORDINARY[-1])


def test_hashing_is_stable_and_normalised() -> None:
    # CRC32, not hash(): the same buckets in every process, so the shipped weights apply.
    expected = {zlib.crc32(g.encode()) % (1 << 18) for g in ("扩", "散", "扩散")}
    g = hashed_grams("扩散", 1 << 18)
    assert set(g) == expected
    assert all(v == pytest.approx(3 ** -0.5) for v in g.values())
    g = hashed_grams("紧急扩散紧急扩散", 1 << 18)
    assert sum(v * v for v in g.values()) == pytest.approx(1.0)
    assert hashed_grams("", 1 << 18) == {}


def test_traditional_and_full_width_spellings_score_alike() -> None:
    model = default_model()
    simplified = ALARMS[0]
    traditional = ("緊急擴散！今天下午在人民公園有人販子搶小孩，已經搶走三個了，"
                   "看到的家長馬上轉發告訴家人！")
    assert model.score(traditional) == pytest.approx(model.score(simplified), abs=1e-6)


def test_detector_signals_carry_no_text() -> None:
    [score, cue] = _signals(ALARMS[0])
    assert (score.label, cue.label) == ("alarm", "alarm_cue")
    assert score.score >= default_model().threshold
    assert cue.evidence["cues"] == alarm_cues(ALARMS[0].replace("！", "!"))
    assert "人民公园" not in str(score.evidence) + str(cue.evidence)
    [ordinary] = _signals(ORDINARY[2])  # scored, but no cue
    assert ordinary.label == "alarm"


def test_registered_once_as_a_pre_send_detector() -> None:
    [d] = [d for d in detectors("pre") if d.name == "alarm"]
    assert isinstance(d, AlarmDetector)
    alarm.register()  # idempotent
    assert [d.name for d in detectors()].count("alarm") == 1


def test_long_messages_cost_what_short_ones_do() -> None:
    """The documented length rule, not a stopwatch (timings live in the benchmarks): the
    n-grams of a long text are those of its head and tail, so its middle costs nothing."""
    head, tail = ALARMS[0] * 20, ALARMS[1] * 10
    one = alarm.normalise(head + "今天天气很好，大家注意休息。" * 300 + tail)
    other = alarm.normalise(head + "明天下午开会讨论工作安排。" * 300 + tail)
    assert len(one) > 4000
    assert alarm.hashed_grams(one, 1 << 18) == alarm.hashed_grams(other, 1 << 18)
    assert 0.0 <= default_model().score(one) <= 1.0


def _signals(text: str) -> list[Any]:
    context = ScreeningContext(action="post", account_id=1, account_verified=True, group_id=1,
                               group_category="work", group_tier=1, text=text, fingerprint="")
    return AlarmDetector().screen(None, context, NO_RESOURCES)  # type: ignore[arg-type]


# --- end to end through the API with the shipped default pack -------------------------------


def _hits(app: Any) -> list[ScreeningHit]:
    uow = app.state.uows()
    try:
        return list(uow.session.scalars(select(ScreeningHit).where(
            ScreeningHit.rule_id == "rumors.alarm").order_by(ScreeningHit.id)))
    finally:
        uow.close()


def test_alarm_asks_then_delivers_with_the_verdict(api: Api, cast: Cast, app: Any,
                                                   gid: int) -> None:  # noqa: F811
    text = ALARMS[0]
    before = len(outbox_events(app, EventType.MESSAGE_POSTED))
    r = post(api, cast.member, gid, text)
    assert (r.status_code, error_code(r)) == (409, "confirmation_required")
    reasons = r.json()["error"]["details"]["reasons"]
    [reason] = [x for x in reasons if x["rule"] == "rumors.alarm"]
    assert (reason["detector"], reason["text_zh"], reason["text_en"]) == ("alarm", *REASON)
    assert len(outbox_events(app, EventType.MESSAGE_POSTED)) == before  # nothing sent
    assert _hits(app) == []  # nothing recorded for an attempt that was not sent

    m = posted(api, cast.member, gid, text, confirm=True)
    assert m["status"] == "delivered"
    row = message_row(app, m["id"])
    assert row is not None
    assert row.verdict == "confirm"  # marked as sent after a warning
    assert "rumors.alarm" in [x["rule"] for x in m["labels"]]
    [audit] = [a for a in audit_records(app, EventType.MESSAGE_POSTED)
               if a.subject_id == str(m["id"])]
    assert audit.extra["verdict"] == "confirm"
    assert "rumors.alarm" in [x["rule"] for x in audit.extra["reasons"]]
    assert len(outbox_events(app, EventType.MESSAGE_POSTED)) == before + 1
    [hit] = _hits(app)
    assert (hit.message_id, hit.mode, hit.action, hit.stage) == (m["id"], "enforce", "confirm",
                                                                 "pre")
    assert "人民公园" not in str(hit.signals)
    assert {s["label"] for s in hit.signals} == {"alarm", "alarm_cue"}


def test_ordinary_message_is_not_prompted(api: Api, cast: Cast, app: Any,
                                          gid: int) -> None:  # noqa: F811
    for text in ORDINARY:
        m = posted(api, cast.member, gid, text)
        assert "rumors.alarm" not in [x["rule"] for x in m["labels"]]
    assert _hits(app) == []
