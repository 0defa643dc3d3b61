"""Each importer on fixtures written from the documented export formats."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qunguan.importers import (
    ArchiveEvent,
    ReadError,
    Source,
    detect,
    dumps,
    get_importer,
    importers,
    read_events,
    register_importer,
    unregister_importer,
)
from qunguan.importers.jsonl import JsonlImporter
from qunguan.importers.reading import detect_encoding

FIXTURES = Path(__file__).parent / "fixtures"
WHATSAPP_ANDROID = FIXTURES / "WhatsApp Chat with Residents 3rd Floor.txt"


def read(path: Path, fmt: str = "auto") -> tuple[list[ArchiveEvent], list[ReadError]]:
    events: list[ArchiveEvent] = []
    errors: list[ReadError] = []
    for item in read_events(Source(path), fmt):
        (errors if isinstance(item, ReadError) else events).append(item)  # type: ignore[arg-type]
    return events, errors


def by_id(events: list[ArchiveEvent]) -> dict[str, ArchiveEvent]:
    return {e.id: e for e in events}


@pytest.mark.parametrize(("name", "fmt"), [
    ("wecom.jsonl", "wecom-archive"), ("memotrace.csv", "wechat-csv"),
    ("pywxdump.csv", "wechat-csv"), ("chatlog.csv", "wechat-csv"),
    (WHATSAPP_ANDROID.name, "whatsapp-txt"), ("android_12h.txt", "whatsapp-txt"),
    ("ios.txt", "whatsapp-txt"), ("result.json", "telegram-json")])
def test_format_auto_detects_every_fixture(name: str, fmt: str) -> None:
    assert detect(Source(FIXTURES / name)).name == fmt
    events, errors = read(FIXTURES / name)
    assert errors == []
    assert events
    assert all(e.source == fmt and e.ts.tzinfo is not None for e in events)


def test_builtins_are_registered_like_a_third_party() -> None:
    names = [i.name for i in importers()]
    assert names == ["jsonl", "wecom-archive", "telegram-json", "wechat-csv", "whatsapp-txt"]

    class Upper:
        name = "upper-test"
        title = "test"

        def sniff(self, head: str) -> bool:
            return head.startswith("UPPER")

        def read(self, source: Source):  # type: ignore[no-untyped-def]
            yield ArchiveEvent("message", "1", datetime(2024, 1, 1, tzinfo=UTC), "g", self.name,
                               text="X")

    register_importer(Upper())
    try:
        with pytest.raises(ValueError, match="registered twice"):
            register_importer(Upper())
        assert get_importer("upper-test") is not None
    finally:
        unregister_importer("upper-test")
    assert get_importer("upper-test") is None


def test_wecom_archive_every_msgtype() -> None:
    events, errors = read(FIXTURES / "wecom.jsonl", "wecom-archive")
    assert errors == []
    e = by_id(events)
    assert "switch_1" not in e  # action: switch is skipped
    assert len(events) == 22
    first = e["1001_1718000060000_external"]
    assert (first.kind, first.group, first.sender) == ("message", "wrEgRoomAbc123", "zhangsan")
    assert first.ts == datetime(2024, 6, 10, 6, 14, 20, tzinfo=UTC)  # msgtime in ms
    # revoke before and after the original
    assert e["1002_1718000120000_external"].recalled_id == "1004_later"
    assert e["1005_1718000300000_external"].recalled_id == "1003_1718000180000_external"
    media = {ev.media for ev in events if ev.media}
    assert {"image", "file", "voice", "video", "link", "card", "location", "news", "meeting",
            "vote", "sticker"} <= media
    record = e["1013_1718000780000_external"]
    assert record.kind == "chat_record"
    assert record.items[0].text.startswith("紧急扩散")
    assert record.items[0].ts == datetime(2024, 6, 10, 3, 26, 40, tzinfo=UTC)  # seconds
    assert record.items[1].text == "[image]"
    assert "紧急扩散" in record.content
    assert e["1014_1718000840000_external"].text == "看这张图\n[image]"  # mixed
    assert e["1015_1718000900000_external"].text == "**通知**：请于周五前提交材料"  # markdown
    assert "辟谣" in e["1016_1718000960000_external"].text  # news under "info"
    lucky = e["1017_1718001020000_external"]
    assert (lucky.kind, lucky.amount_fen, lucky.parts, lucky.envelope_type, lucky.wish) == \
        ("red_envelope", 10000, 60, "lucky", "恭喜发财，大吉大利")
    external = e["1018_1718001080000_external"]
    assert (external.amount_fen, external.parts, external.extra) == (4100000, 41,
                                                                     {"external": True})
    # an id beyond 64 bits stays exact, as a string; an empty roomid is a one-to-one chat
    private = e["184467440737095516160001"]
    assert private.group == "dm:lisi|zhangsan"


def test_wechat_csv_memotrace() -> None:
    events, errors = read(FIXTURES / "memotrace.csv", "wechat-csv")
    assert errors == []
    e = by_id(events)
    assert e["2"].text == "欢迎欢迎\n第二行也是消息"  # a quoted field over two lines
    assert e["2"].line == 3
    assert e["3"].line == 5
    assert e["3"].media == "image"
    envelope = e["4"]
    assert envelope.kind == "red_envelope"
    assert envelope.amount_fen is None  # not in a personal-WeChat export, and it says so
    assert envelope.extra == {"amount": "not in export"}
    assert (e["5"].kind, e["5"].amount_fen) == ("transfer", 20000)
    assert (e["6"].kind, e["6"].action, e["6"].members) == ("membership", "invite",
                                                            ("李四", "王五"))
    assert e["6"].sender == ""
    assert e["7"].kind == "recall"
    assert e["8"].kind == "chat_record"
    assert e["9"].group == "dm:me|wxid_friend"
    assert e["9"].sender == "wxid_friend"
    assert e["9"].group_name == ""
    assert (e["10"].action, e["10"].members) == ("leave", ("王五",))


def test_wechat_csv_pywxdump_and_chatlog() -> None:
    events, _ = read(FIXTURES / "pywxdump.csv")
    kinds = [(ev.id, ev.kind) for ev in events]
    assert kinds == [("7001", "message"), ("7002", "message"), ("7003", "red_envelope"),
                     ("7004", "transfer"), ("7005", "recall"), ("7006", "membership"),
                     ("7007", "chat_record")]
    e = by_id(events)
    assert e["7001"].ts == datetime(2024, 6, 11, 1, 0, tzinfo=UTC)  # local time, UTC+8
    assert e["7004"].amount_fen == 8888
    assert e["7006"].action == "join"
    events, _ = read(FIXTURES / "chatlog.csv")
    assert [ev.kind for ev in events] == ["message", "red_envelope", "transfer", "message",
                                          "membership"]
    assert events[2].amount_fen == 1250
    assert events[0].group_name == "业主群"
    assert events[0].sender_name == "阿A"


def test_whatsapp_android_24h_multiline_system_media_deleted() -> None:
    events, errors = read(WHATSAPP_ANDROID, "whatsapp-txt")
    assert errors == []
    kinds = [(ev.line, ev.kind) for ev in events]
    assert kinds == [(1, "system"), (2, "membership"), (3, "membership"), (4, "message"),
                     (7, "message"), (8, "recall"), (9, "message"), (10, "membership")]
    e = {ev.line: ev for ev in events}
    assert e[4].text == "Water will be off tomorrow from 9 to 12.\nPlease store some water.\n" \
        "Thanks!"
    assert e[4].ts == datetime(2024, 6, 13, 13, 40, tzinfo=UTC)  # 13/06 day first, UTC+8
    assert e[3].members == ("Chen Jing", "+86 138 1234 5678")
    assert e[7].media == "media"
    assert e[7].text == ""
    assert e[10].action == "leave"
    assert e[1].group == "Residents 3rd Floor"


def test_whatsapp_android_12h_month_first_narrow_space() -> None:
    events, errors = read(FIXTURES / "android_12h.txt", "whatsapp-txt")
    assert errors == []
    assert events[0].ts == datetime(2024, 6, 13, 13, 40, tzinfo=UTC)  # 9:40 PM, UTC+8
    assert events[2].ts == datetime(2024, 6, 12, 16, 5, tzinfo=UTC)  # 12:05 AM
    assert (events[3].kind, events[3].action, events[3].members) == ("membership", "remove",
                                                                     ("Chen Jing",))


def test_whatsapp_ios_marks_seconds_and_attachments() -> None:
    events, errors = read(FIXTURES / "ios.txt", "whatsapp-txt")
    assert errors == []
    e = {ev.line: ev for ev in events}
    assert e[1].kind == "system"
    assert (e[2].kind, e[2].action, e[2].members) == ("membership", "invite", ("Chen Jing",))
    assert e[3].ts == datetime(2024, 6, 13, 13, 40, 5, tzinfo=UTC)
    assert e[3].text == "Water will be off tomorrow.\nSecond line of the same message"
    assert e[5].media == "image"
    assert e[6].media == "file"
    assert e[6].text.endswith(".jpg")
    assert e[7].kind == "recall"
    assert e[8].ts == datetime(2024, 6, 13, 13, 43, tzinfo=UTC)


def test_telegram_json_entities_forwards_replies_service() -> None:
    events, errors = read(FIXTURES / "result.json", "telegram-json")
    assert errors == []
    e = by_id(events)
    assert e["tg:1234567890:4"].text == "请看 重要通知：https://t.cn/abc"
    fwd = e["tg:1234567890:5"]
    assert (fwd.kind, fwd.forwarded_from, fwd.sender) == ("forward", "谣言转发号", "user222")
    assert e["tg:1234567890:6"].reply_to == "tg:1234567890:5"
    assert e["tg:1234567890:2"].members == ("Li Si", "Wang Wu")
    assert e["tg:1234567890:7"].media == "image"
    assert e["tg:1234567890:8"].media == "voice"
    assert e["tg:1234567890:10"].kind == "system"
    assert all(ev.group_name == "社区志愿者" for ev in events)


def test_telegram_whole_account_export(tmp_path: Path) -> None:
    chat = json.loads((FIXTURES / "result.json").read_text(encoding="utf-8"))
    other = {"name": "Other", "type": "personal_chat", "id": 42,
             "messages": [{"id": 1, "type": "message", "date": "2024-06-01T08:00:00",
                           "from": "A", "from_id": "user1", "text": "hello"}]}
    data = {"about": "Here is the data you requested.", "chats": {"about": "", "list": [
        chat, other]}}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    events, errors = read(path)
    assert errors == []
    assert len(events) == 11
    assert events[-1].id == "tg:42:1"
    assert events[-1].group_name == "Other"
    assert events[-1].ts == datetime(2024, 6, 1, 0, 0, tzinfo=UTC)  # `date` only: local time


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_encodings_bom_and_gb18030(tmp_path: Path, encoding: str) -> None:
    for name in ("memotrace.csv", WHATSAPP_ANDROID.name, "wecom.jsonl"):
        text = (FIXTURES / name).read_text(encoding="utf-8")
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        assert detect_encoding(path.read_bytes()[:65536]) == encoding
        expected, _ = read(FIXTURES / name)
        got, errors = read(path)
        assert errors == []
        assert [(ev.kind, ev.text, ev.sender) for ev in got] == \
            [(ev.kind, ev.text, ev.sender) for ev in expected]


def test_jsonl_round_trip_of_every_format(tmp_path: Path) -> None:
    for path in sorted(FIXTURES.iterdir()):
        events, _ = read(path)
        out = tmp_path / (path.name + ".jsonl")
        out.write_text("".join(dumps(ev) + "\n" for ev in events), encoding="utf-8")
        assert JsonlImporter().sniff(out.read_text(encoding="utf-8")[:1000])
        back, errors = read(out)
        assert errors == []
        strip = [(ev.kind, ev.id, ev.ts, ev.group, ev.source, ev.sender, ev.text, ev.media,
                  ev.amount_fen, ev.parts, ev.members, ev.items, ev.recalled_id,
                  ev.forwarded_from, ev.extra) for ev in events]
        assert [(ev.kind, ev.id, ev.ts, ev.group, ev.source, ev.sender, ev.text, ev.media,
                 ev.amount_fen, ev.parts, ev.members, ev.items, ev.recalled_id,
                 ev.forwarded_from, ev.extra) for ev in back] == strip


def test_copy_of_fixture_keeps_whatsapp_group_from_file_name(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with 村民小组.txt"
    shutil.copy(WHATSAPP_ANDROID, path)
    events, _ = read(path)
    assert {ev.group for ev in events} == {"村民小组"}
