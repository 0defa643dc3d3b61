"""``telegram-json``: Telegram Desktop's ``result.json`` (one chat, or a whole account's
export with ``chats.list``), streamed with ijson: a large export is never loaded whole.

Messages have ``text`` as a string or as a list of strings and entity objects
(``{"type": "bold", "text": …}``); ``forwarded_from`` makes a forward, ``reply_to_message_id``
a reply; photos and files (``media_type``: sticker, voice_message, video_file, …) become
placeholders. Service messages (``type: service``) with ``action`` invite_members,
remove_members, join_group_by_link, join_group_by_request or create_group become membership
events, other actions system events. Times come from ``date_unixtime`` where present, else
``date`` (the exporter's local time).

A malformed or truncated file stops that file at the place where it breaks (the messages
before it are kept); ijson reads in blocks, so the line named is where reading had got to.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson

from qunguan.importers.common import BadRecord, from_epoch, from_text
from qunguan.importers.events import ArchiveEvent
from qunguan.importers.reading import ReadError, Source

MESSAGE_PREFIXES = ("messages.item", "chats.list.item.messages.item",
                    "left_chats.list.item.messages.item")
CHAT_PREFIXES = ("", "chats.list.item", "left_chats.list.item")
MEDIA_TYPES = {"sticker": "sticker", "voice_message": "voice", "video_file": "video",
               "video_message": "video", "animation": "image", "audio_file": "voice"}
MEMBERSHIP = {"invite_members": "invite", "remove_members": "remove",
              "join_group_by_link": "join", "join_group_by_request": "join",
              "create_group": "create", "create_channel": "create"}
ISO = ("%Y-%m-%dT%H:%M:%S",)


class _Counting:
    """A binary file that counts the bytes and lines handed to the parser."""

    def __init__(self, raw: BinaryIO, source: Source) -> None:
        self.raw = raw
        self.source = source
        self.lines = 1

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.lines += data.count(b"\n")
        self.source.bytes_read += len(data)
        return data


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(x if isinstance(x, str) else str(x.get("text", ""))
                       if isinstance(x, dict) else "" for x in value)
    return ""


def _name(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


class TelegramJsonImporter:
    name = "telegram-json"
    title = "Telegram Desktop export (result.json)"

    def sniff(self, head: str) -> bool:
        start = head.lstrip("\ufeff \t\r\n")
        if not start.startswith("{"):
            return False
        first = start.split("\n", 1)[0]
        if first.rstrip().endswith("}") and '"msgid"' in first:
            return False  # one JSON object per line: WeCom
        return '"messages"' in head or '"chats"' in head or '"about"' in head

    def read(self, source: Source) -> Iterator[ArchiveEvent | ReadError]:
        with source.path.open("rb") as raw:
            if raw.read(3) != b"\xef\xbb\xbf":
                raw.seek(0)
            counting = _Counting(raw, source)
            chat: dict[str, str] = {}
            builder: Any = None
            depth = 0
            index = 0
            try:
                for prefix, event, value in ijson.parse(counting, use_float=True):
                    if builder is not None:
                        builder.event(event, value)
                        if event in ("start_map", "start_array"):
                            depth += 1
                        elif event in ("end_map", "end_array"):
                            depth -= 1
                            if depth == 0:
                                index += 1
                                item, builder = builder.value, None
                                yield self._one(item, chat, source.name, counting.lines, index)
                        continue
                    if prefix in MESSAGE_PREFIXES and event == "start_map":
                        builder = ijson.ObjectBuilder()
                        builder.event(event, value)
                        depth = 1
                    elif event == "start_map" and prefix in CHAT_PREFIXES[1:]:
                        chat = {}  # the next chat of a whole-account export
                    elif event in ("string", "number"):
                        parent, _, key = prefix.rpartition(".")
                        if parent in CHAT_PREFIXES and key in ("name", "id", "type"):
                            chat[key] = _name(value)
            except ijson.JSONError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
                yield ReadError(source.name, counting.lines,
                                f"JSON breaks off or is malformed near here ({reason}); the "
                                f"{index} message(s) before it were read")

    def _one(self, item: Any, chat: dict[str, str], file: str, line: int,
             index: int) -> ArchiveEvent | ReadError:
        try:
            return self.parse(item, chat, file, line)
        except BadRecord as exc:
            ident = item.get("id") if isinstance(item, dict) else None
            return ReadError(file, line, f"message #{index} (id {ident!r}): {exc}")

    def parse(self, item: Any, chat: dict[str, str], file: str, line: int) -> ArchiveEvent:
        if not isinstance(item, dict):
            raise BadRecord("not a JSON object")
        ident = item.get("id")
        if isinstance(ident, bool) or not isinstance(ident, int | str) or ident == "":
            raise BadRecord("`id` is missing")
        if "date_unixtime" in item:
            ts = from_epoch(item["date_unixtime"], field="date_unixtime")
        elif isinstance(item.get("date"), str):
            ts = from_text(item["date"], ISO, field="date")
        else:
            raise BadRecord("no `date`")
        chat_id = chat.get("id", "")
        base: dict[str, Any] = {
            "id": f"tg:{chat_id}:{ident}", "ts": ts, "group": f"tg:{chat_id}",
            "group_name": chat.get("name", ""), "source": self.name, "file": file, "line": line}
        kind = item.get("type", "message")
        if kind == "service":
            action = _name(item.get("action"))
            actor = _name(item.get("actor_id")) or _name(item.get("actor"))
            listed = item.get("members")
            members = listed if isinstance(listed, list) else []
            if action in MEMBERSHIP:
                return ArchiveEvent("membership", action=MEMBERSHIP[action], sender=actor,
                                    sender_name=_name(item.get("actor")),
                                    members=tuple(_name(m) for m in members) or (actor,),
                                    **base)
            return ArchiveEvent("system", sender=actor, sender_name=_name(item.get("actor")),
                                text=action, **base)
        if kind != "message":
            raise BadRecord(f"unknown message type {kind!r}")
        text = _text(item.get("text"))
        media = None
        if "photo" in item:
            media = "image"
        elif "media_type" in item:
            media = MEDIA_TYPES.get(_name(item["media_type"]), "file")
        elif "file" in item:
            media = "file"
        elif isinstance(item.get("poll"), dict):
            media = "poll"
            text = text or _name(item["poll"].get("question"))
        elif "location_information" in item:
            media = "location"
        elif "contact_information" in item:
            media = "card"
        reply = item.get("reply_to_message_id")
        common: dict[str, Any] = {
            "sender": _name(item.get("from_id")) or _name(item.get("from")),
            "sender_name": _name(item.get("from")), "text": text, "media": media,
            "reply_to": f"tg:{chat_id}:{reply}" if reply is not None else None, **base}
        forwarded = item.get("forwarded_from")
        if forwarded is not None:
            return ArchiveEvent("forward", forwarded_from=_name(forwarded) or "unknown",
                                **common)
        return ArchiveEvent("message", **common)
