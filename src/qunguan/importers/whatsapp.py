"""``whatsapp-txt``: the text of WhatsApp's "Export chat".

Android writes ``DD/MM/YY, HH:MM - Name: text``, iOS ``[DD/MM/YYYY, HH:MM:SS] Name: text``,
often after a U+200E LEFT-TO-RIGHT MARK; both come with 12-hour clocks (``9:41 PM``, with a
space or a U+202F NARROW NO-BREAK SPACE before AM/PM) or 24-hour ones, and with the day or
the month first depending on the phone's locale. Whether the day comes first is decided per
file from its first 2,000 message headers (a first number above 12 means day first, a second
one above 12 month first; day first when nothing tells). Lines that do not start a message
continue the one before (multi-line messages). Lines without a sender are system lines:
members added, removed, leaving or joining by link become membership events. ``<Media
omitted>`` and its variants become media placeholders, "This message was deleted" a recall.

The export has no message ids: an event's id is ``FILE:LINE`` of its first line, and the
group is the file's name without "WhatsApp Chat with " and the extension.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qunguan.importers.common import LOCAL, BadRecord
from qunguan.importers.events import ArchiveEvent
from qunguan.importers.reading import ReadError, Source

_MARKS = "\u200e\u200f\u202a\u202b\u202c\ufeff"
_AMPM = r"(?:[\s\u202f\u00a0]?([AaPp])\.?\s?[Mm]\.?)?"
_ANDROID = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{2,4}),? (\d{1,2})[:.](\d{2})"
                      + _AMPM + r" [-–] (.*)$")
_IOS = re.compile(r"^\[(\d{1,2})[./-](\d{1,2})[./-](\d{2,4}),? (\d{1,2})[:.](\d{2})"
                  r"(?:[:.](\d{2}))?" + _AMPM + r"\] (.*)$")
_SENDER = re.compile(r"^(.{1,100}?): (.*)$", re.S)
MEDIA = {"<media omitted>": "media", "image omitted": "image", "video omitted": "video",
         "audio omitted": "voice", "sticker omitted": "sticker", "gif omitted": "image",
         "document omitted": "file", "contact card omitted": "card", "<attached:": "file",
         "(file attached)": "file", "<image omitted>": "image", "<video omitted>": "video",
         "<audio omitted>": "voice", "<sticker omitted>": "sticker"}
DELETED = ("this message was deleted", "you deleted this message", "此消息已删除",
           "你删除了此消息")
_ADDED = re.compile(r"^(.+?) added (.+)$")
_REMOVED = re.compile(r"^(.+?) removed (.+)$")
_LEFT = re.compile(r"^(.+?) left$")
_JOINED = re.compile(r"^(.+?) joined using this group's invite link$")
_CREATED = re.compile(r"^(.+?) created group")
LOOKAHEAD = 2000
MAX_MESSAGE_CHARS = 1_000_000


@dataclass
class _Pending:
    line: int
    ts: datetime
    body: list[str] = field(default_factory=list)
    size: int = 0


def _clean(line: str) -> str:
    return line.lstrip(_MARKS)


def _header(line: str) -> tuple[tuple[str, ...], str] | None:
    line = _clean(line)
    m = _IOS.match(line)
    if m:
        d1, d2, y, hh, mm, ss, ap, rest = m.groups()
        return (d1, d2, y, hh, mm, ss or "0", ap or ""), rest
    m = _ANDROID.match(line)
    if m:
        d1, d2, y, hh, mm, ap, rest = m.groups()
        return (d1, d2, y, hh, mm, "0", ap or ""), rest
    return None


def _when(parts: tuple[str, ...], dayfirst: bool) -> datetime:
    d1, d2, y, hh, mm, ss, ap = parts
    day, month = (int(d1), int(d2)) if dayfirst else (int(d2), int(d1))
    year = int(y) + (2000 if len(y) == 2 else 0)
    hour = int(hh)
    if ap:
        if not 1 <= hour <= 12:
            raise BadRecord(f"hour {hour} with {ap.upper()}M")
        hour = hour % 12 + (12 if ap.lower() == "p" else 0)
    try:
        return datetime(year, month, day, hour, int(mm), int(ss), tzinfo=LOCAL)
    except ValueError as exc:
        raise BadRecord(f"date does not parse ({d1}/{d2}/{y} {hh}:{mm}, "
                        f"{'day' if dayfirst else 'month'} first): {exc}") from None


class WhatsappTxtImporter:
    name = "whatsapp-txt"
    title = "WhatsApp \"Export chat\" text (Android and iOS)"

    def sniff(self, head: str) -> bool:
        lines = [x for x in head.split("\n")[:5] if x.strip()]
        return bool(lines) and _header(lines[0].rstrip("\r")) is not None

    @staticmethod
    def day_first(source: Source) -> bool:
        probe = Source(source.path, source.encoding)
        for _, line in itertools.islice(probe.lines(), LOOKAHEAD * 4):
            if isinstance(line, ReadError):
                continue
            found = _header(line)
            if found is None:
                continue
            if int(found[0][0]) > 12:
                return True
            if int(found[0][1]) > 12:
                return False
        return True

    def read(self, source: Source) -> Iterator[ArchiveEvent | ReadError]:
        if not source.encoding:
            source.head()
        dayfirst = self.day_first(source)
        group = source.path.stem.removeprefix("WhatsApp Chat with ").removeprefix(
            "WhatsApp Chat - ") or source.path.stem
        pending: _Pending | None = None
        skipping = False
        for number, line in source.lines():
            if isinstance(line, ReadError):
                yield line
                continue
            found = _header(line)
            if found is None:
                if pending is not None:
                    if pending.size + len(line) > MAX_MESSAGE_CHARS:
                        yield ReadError(source.name, number, "message longer than "
                                        f"{MAX_MESSAGE_CHARS} characters; the rest skipped")
                        yield self._event(pending, source, group)
                        pending, skipping = None, True
                        continue
                    pending.body.append(line)
                    pending.size += len(line)
                elif not skipping and line.strip():
                    yield ReadError(source.name, number, "not a message header (no date "
                                    "and time) and no message before it to continue")
                    skipping = True
                continue
            if pending is not None:
                yield self._event(pending, source, group)
                pending = None
            parts, rest = found
            try:
                ts = _when(parts, dayfirst)
            except BadRecord as exc:
                yield ReadError(source.name, number, str(exc))
                skipping = True
                continue
            skipping = False
            pending = _Pending(number, ts, [rest], len(rest))
        if pending is not None:
            yield self._event(pending, source, group)

    def _event(self, p: _Pending, source: Source, group: str) -> ArchiveEvent:
        base: dict[str, Any] = {"id": f"{source.path.name}:{p.line}", "ts": p.ts, "group": group,
                "group_name": group, "source": self.name, "file": source.name, "line": p.line}
        first = _clean(p.body[0])
        m = _SENDER.match(first)
        if m is None or (_clean(m.group(2)) != m.group(2) and _system_text(_clean(m.group(2)))):
            # No "Name: " (Android), or iOS's "Group: \u200eAlice added Bob".
            text = _clean(m.group(2)) if m else first
            return _system(text, base)
        sender = m.group(1).strip()
        text = "\n".join([_clean(m.group(2)), *p.body[1:]])
        low = text.strip().lower()
        if low in DELETED:
            return ArchiveEvent("recall", sender=sender, sender_name=sender,
                                extra={"deleted": True}, **base)
        for marker, media in MEDIA.items():
            if low.startswith(marker):
                return ArchiveEvent("message", sender=sender, sender_name=sender, media=media,
                                    text=text.strip()[len(marker):].strip(" >\n")
                                    if marker == "<attached:" else "", **base)
        return ArchiveEvent("message", sender=sender, sender_name=sender, text=text, **base)


def _system_text(text: str) -> bool:
    return any(p.match(text) for p in (_ADDED, _REMOVED, _LEFT, _JOINED, _CREATED)) or \
        "end-to-end encrypted" in text or "changed" in text


def _system(text: str, base: dict[str, Any]) -> ArchiveEvent:
    for pattern, action in ((_JOINED, "join"), (_ADDED, "invite"), (_REMOVED, "remove"),
                            (_LEFT, "leave"), (_CREATED, "create")):
        m = pattern.match(text)
        if m:
            members = tuple(x.strip() for x in re.split(r",| and ", m.group(2))) \
                if m.lastindex and m.lastindex >= 2 else (m.group(1).strip(),)
            return ArchiveEvent("membership", action=action, members=members, text=text,
                                sender=m.group(1).strip() if action in ("invite", "remove")
                                else "", extra={}, **base)
    return ArchiveEvent("system", text=text, **base)
