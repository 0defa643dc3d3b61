"""The bad input of issue 8: each is reported with its place and the rest is still read."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from qunguan.importers import Archive, ReadError, Source, StrictStop, read_events
from qunguan.importers.reading import MAX_LINE_BYTES

FIXTURES = Path(__file__).parent / "fixtures"


def read(path: Path, fmt: str = "auto") -> tuple[list[object], list[ReadError]]:
    events: list[object] = []
    errors: list[ReadError] = []
    for item in read_events(Source(path), fmt):
        if isinstance(item, ReadError):
            errors.append(item)
        else:
            events.append(item)
    return events, errors


def test_truncated_wecom_file_keeps_every_whole_line(tmp_path: Path) -> None:
    data = (FIXTURES / "wecom.jsonl").read_bytes()
    path = tmp_path / "cut.jsonl"
    path.write_bytes(data[: len(data) - 40])  # the last line breaks off
    events, errors = read(path)
    assert len(events) == 21
    assert len(errors) == 1
    assert errors[0].line == 23
    assert errors[0].reason.startswith("not JSON")


def test_truncated_telegram_file_keeps_messages_before_the_break(tmp_path: Path) -> None:
    data = (FIXTURES / "result.json").read_bytes()
    path = tmp_path / "result.json"
    path.write_bytes(data[: int(len(data) * 0.6)])
    events, errors = read(path, "telegram-json")
    assert 3 <= len(events) < 10
    assert len(errors) == 1
    assert "breaks off" in errors[0].reason
    assert errors[0].line > 1


def test_line_of_binary_garbage(tmp_path: Path) -> None:
    lines = (FIXTURES / "wecom.jsonl").read_bytes().splitlines(keepends=True)
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"".join(lines[:3]) + b"\x00\xff\xfe\x89PNG\x1a\x02\n"
                     + b"".join(lines[3:]))
    events, errors = read(path, "wecom-archive")
    assert len(events) == 22
    assert [(e.line, e.reason) for e in errors] == [(4, "binary data (NUL bytes), not text")]


def test_undecodable_line_in_a_utf8_file(tmp_path: Path) -> None:
    text = (FIXTURES / WHATSAPP).read_bytes()
    path = tmp_path / "w.txt"
    path.write_bytes(text + b"14/06/24, 07:01 - Li Wei: \xff\xfe bad bytes\n")
    events, errors = read(path)
    assert len(events) == 8
    assert errors[0].line == 11
    assert "not utf-8 text" in errors[0].reason


WHATSAPP = "WhatsApp Chat with Residents 3rd Floor.txt"


def test_unknown_msgtype(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    good = (FIXTURES / "wecom.jsonl").read_text(encoding="utf-8").splitlines()[1]
    odd = json.dumps({"msgid": "x1", "action": "send", "from": "a", "tolist": [], "roomid": "r",
                      "msgtime": 1718000000000, "msgtype": "hologram", "hologram": {}})
    path.write_text(f"{good}\n{odd}\n{good.replace('1001_', '9001_')}\n", encoding="utf-8")
    events, errors = read(path)
    assert len(events) == 2
    assert [(e.line, e.reason) for e in errors] == [(2, "unknown msgtype 'hologram'")]


def test_date_that_does_not_parse(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with X.txt"
    path.write_text("13/06/24, 21:40 - A: one\n"
                    "32/06/24, 21:41 - B: a day that does not exist\n"
                    "continues the broken message\n"
                    "13/06/24, 21:42 - A: three\n", encoding="utf-8")
    events, errors = read(path)
    assert [e.text for e in events] == ["one", "three"]  # type: ignore[attr-defined]
    assert len(errors) == 1
    assert errors[0].line == 2
    assert "does not parse" in errors[0].reason
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("Time,SenderName,Sender,TalkerName,Talker,Content\n"
                        "2024-06-12 10:00:00,A,a,G,g@chatroom,ok\n"
                        "yesterday,A,a,G,g@chatroom,bad\n"
                        "2024-13-12 10:00:00,A,a,G,g@chatroom,bad month\n", encoding="utf-8")
    events, errors = read(csv_path)
    assert len(events) == 1
    assert [e.line for e in errors] == [3, 4]
    assert all("does not parse" in e.reason for e in errors)


def test_csv_with_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    lines = (FIXTURES / "memotrace.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].replace("StrContent,", "")
    path.write_text("\n".join([header, *lines[1:]]) + "\n", encoding="utf-8")
    events, errors = read(path, "wechat-csv")
    assert events == []
    assert len(errors) == 1
    assert errors[0].line == 1
    assert "lacks column(s) StrContent" in errors[0].reason
    short = tmp_path / "short.csv"
    short.write_text("Time,SenderName,Sender,TalkerName,Talker,Content\n"
                     "2024-06-12 10:00:00,A,a,G,g@chatroom\n"
                     "2024-06-12 10:01:00,A,a,G,g@chatroom,fine\n", encoding="utf-8")
    events, errors = read(short)
    assert len(events) == 1
    assert [(e.line, e.reason) for e in errors] == [(2, "5 fields where the header has 6")]


def test_a_200_mb_single_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    good = (FIXTURES / "wecom.jsonl").read_bytes().splitlines(keepends=True)
    with path.open("wb") as f:
        f.write(good[1])
        chunk = b"x" * (1 << 20)
        for _ in range(200):
            f.write(chunk)
        f.write(b"\n")
        f.write(good[2])
    tracemalloc.start()
    try:
        events, errors = read(path, "wecom-archive")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(events) == 2
    assert len(errors) == 1
    assert errors[0].line == 2
    assert f"longer than the {MAX_LINE_BYTES} bytes allowed" in errors[0].reason
    assert peak < 3 * MAX_LINE_BYTES  # never the whole line


def test_undetectable_file_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\nnothing else\n", encoding="utf-8")
    _, errors = read(path)
    assert errors[0].line == 0
    assert "could not be detected" in errors[0].reason
    _, errors = read(tmp_path / "absent.jsonl")
    assert errors[0].line == 0
    assert "cannot read" in errors[0].reason


def test_archive_counts_errors_and_strict_stops_at_the_first(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = (FIXTURES / "wecom.jsonl").read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines[:3], "{not json", *lines[3:]]) + "\n", encoding="utf-8")
    seen: list[ReadError] = []
    archive = Archive([path, FIXTURES / "ios.txt"], on_error=seen.append)
    events = list(archive)
    assert (archive.events, archive.errors) == (len(events), 1)
    assert len(events) == 29
    assert seen[0].line == 4
    assert archive.bytes_read == archive.total_bytes
    strict = Archive([path], strict=True)
    with pytest.raises(StrictStop) as stopped:
        list(strict)
    assert stopped.value.error.line == 4


def test_a_large_telegram_export_is_streamed_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    with path.open("w", encoding="utf-8") as f:
        f.write('{\n "name": "big", "type": "private_group", "id": 7,\n "messages": [\n')
        for i in range(15_000):
            f.write(("," if i else "") + json.dumps(
                {"id": i, "type": "message", "date": "2024-06-10T10:00:00",
                 "date_unixtime": str(1717984800 + i), "from": "A", "from_id": f"user{i % 50}",
                 "text": ["第", {"type": "bold", "text": f"{i}"}, "条消息" * 5]},
                ensure_ascii=False) + "\n")
        f.write("]\n}\n")
    assert path.stat().st_size > 2_000_000
    tracemalloc.start()
    try:
        count = 0
        for item in read_events(Source(path)):
            assert not isinstance(item, ReadError)
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 15_000
    assert peak < 3_000_000  # a few messages at a time; json.loads of it peaks over 20 MB
