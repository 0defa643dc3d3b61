"""Small helpers shared by the importers: times, JSON lines, ids of one-to-one chats."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from qunguan.importers.events import ArchiveEvent
from qunguan.importers.reading import ReadError, Source
from qunguan.kernel.clock import CHINA
from qunguan.kernel.money import yuan_to_fen

# Exports without a time zone (WeChat CSV, WhatsApp text) are read as China Standard Time;
# the report shows UTC.
LOCAL = CHINA  # a time an export gives without an offset
# Earliest and latest plausible times of a chat message: anything outside is a broken field.
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class BadRecord(ValueError):
    """A record that cannot become an event; the message says why."""


def from_epoch(value: Any, *, millis: bool = False, field: str = "time") -> datetime:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord(f"`{field}` is not a Unix time: {value!r}")
    try:
        ts = datetime.fromtimestamp(value / 1000 if millis else value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise BadRecord(f"`{field}` is out of range: {value!r}") from None
    return _plausible(ts, field, value)


def _plausible(ts: datetime, field: str, raw: Any) -> datetime:
    if not _EARLIEST <= ts < _LATEST:
        raise BadRecord(f"`{field}` {raw!r} is not a plausible message time")
    return ts


def from_text(value: str, formats: tuple[str, ...], *, field: str = "time") -> datetime:
    """A local time written in one of ``formats`` (naive times are China Standard Time)."""
    text = value.strip()
    for fmt in formats:
        try:
            ts = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return _plausible(ts if ts.tzinfo else ts.replace(tzinfo=LOCAL), field, value)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise BadRecord(f"`{field}` does not parse as a date and time: {value!r}") from None
    return _plausible(ts if ts.tzinfo else ts.replace(tzinfo=LOCAL), field, value)


def json_object(line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadRecord(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise BadRecord("not a JSON object")
    return row


def dm_group(a: str, b: str) -> str:
    """The chat id of a one-to-one chat: the same whichever side sent."""
    return "dm:" + "|".join(sorted((a, b)))


_YUAN = re.compile(r"[￥¥]\s*([0-9]{1,12}(?:\.[0-9]{1,2})?)|([0-9]{1,12}(?:\.[0-9]{1,2})?)\s*元")


def amount_in(text: str) -> int | None:
    """Fen of the first yuan amount written in ``text`` ("￥12.50", "12.50元"), or None."""
    m = _YUAN.search(text)
    if m is None:
        return None
    return int(yuan_to_fen(m.group(1) or m.group(2)))


def json_lines(source: Source, parse: Callable[[dict[str, Any], str, int], ArchiveEvent | None]
               ) -> Iterator[ArchiveEvent | ReadError]:
    """Events of a file of one JSON object per line; blank lines are skipped, ``parse`` may
    return None for a record that carries no event."""
    for number, line in source.lines():
        if isinstance(line, ReadError):
            yield line
            continue
        if not line.strip():
            continue
        try:
            event = parse(json_object(line), source.name, number)
        except BadRecord as exc:
            yield ReadError(source.name, number, str(exc))
            continue
        if event is not None:
            yield event
