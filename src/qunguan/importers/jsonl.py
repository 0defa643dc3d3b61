"""``jsonl``: qunguan's neutral archive format, one event a line as ``events.to_json``
writes it (``qunguan import convert`` produces it from any other format). docs/importers.md
lists the fields."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from qunguan.importers.common import BadRecord, json_lines
from qunguan.importers.events import FORMAT_VERSION, KINDS, ArchiveEvent, RecordItem
from qunguan.importers.reading import ReadError, Source

_STRINGS = ("sender", "sender_name", "group_name", "text", "media", "forwarded_from",
            "reply_to", "recalled_id", "envelope_type", "wish", "action")


def _ts(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise BadRecord(f"`{field}` must be an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise BadRecord(f"`{field}` is not ISO 8601: {value!r}") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _int(row: dict[str, Any], name: str) -> int | None:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRecord(f"`{name}` must be a non-negative integer (fen or a count)")
    return value


def parse(row: dict[str, Any], file: str = "", line: int = 0) -> ArchiveEvent:
    if row.get("v", FORMAT_VERSION) != FORMAT_VERSION:
        raise BadRecord(f"format version {row.get('v')!r}; this build reads {FORMAT_VERSION}")
    kind = row.get("kind")
    if kind not in KINDS:
        raise BadRecord(f"`kind` must be one of {', '.join(KINDS)}, not {kind!r}")
    ident = row.get("id")
    if isinstance(ident, bool) or not isinstance(ident, str | int) or ident == "":
        raise BadRecord("`id` is missing")
    group = row.get("group")
    if not isinstance(group, str):
        raise BadRecord("`group` must be a string")
    fields: dict[str, Any] = {}
    for name in _STRINGS:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRecord(f"`{name}` must be a string")
        if name in ("sender", "sender_name", "group_name", "text"):
            fields[name] = value or ""
        else:
            fields[name] = value
    members = row.get("members", [])
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise BadRecord("`members` must be a list of strings")
    items = []
    for item in row.get("items") or []:
        if not isinstance(item, dict) or not isinstance(item.get("text", ""), str):
            raise BadRecord("`items` must be objects with a `text`")
        items.append(RecordItem(str(item.get("sender_name") or ""),
                                _ts(item["ts"], "items.ts") if item.get("ts") else None,
                                item.get("text", "")))
    extra = row.get("extra") or {}
    if not isinstance(extra, dict):
        raise BadRecord("`extra` must be an object")
    return ArchiveEvent(kind, str(ident), _ts(row.get("ts"), "ts"), group,
                        str(row.get("source") or "jsonl"), amount_fen=_int(row, "amount_fen"),
                        parts=_int(row, "parts"), members=tuple(members), items=tuple(items),
                        file=file, line=line, extra=extra, **fields)


class JsonlImporter:
    name = "jsonl"
    title = "qunguan neutral archive format (JSON lines)"

    def sniff(self, head: str) -> bool:
        first = head.lstrip().split("\n", 1)[0]
        return first.startswith("{") and '"kind"' in first and '"v"' in first

    def read(self, source: Source) -> Iterator[ArchiveEvent | ReadError]:
        return json_lines(source, parse)
