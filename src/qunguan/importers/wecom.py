"""``wecom-archive``: WeCom conversation-content archive (会话内容存档) messages as
``DecryptData`` returns them, one JSON object per line.

Every ``msgtype`` of Tencent's documentation is read: text, markdown and news (under key
``info``), link, card, location, chatrecord (items carry JSON inside a string, times in
seconds), mixed, revoke (``pre_msgid``), redpacket and external_redpacket (under key
``redpacket``, ``totalamount`` in fen), meeting and vote, and the media types as
placeholders. ``action: switch`` records (an enterprise switching the archive on) carry no
message and are skipped. Ids stay strings, since WeCom's exceed 64 bits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from qunguan.importers.common import BadRecord, dm_group, from_epoch, json_lines
from qunguan.importers.events import ArchiveEvent, RecordItem
from qunguan.importers.reading import ReadError, Source

MEDIA = {"image": "image", "voice": "voice", "video": "video", "file": "file",
         "emotion": "sticker", "weapp": "mini_program", "voiptext": "call",
         "meeting_voice_call": "call", "voip_doc_share": "file", "sphfeed": "channels_video",
         "docmsg": "document", "calendar": "calendar", "todo": "todo", "collect": "form",
         "agree": "consent", "disagree": "consent"}
ENVELOPE_TYPES = {1: "ordinary", 2: "lucky", 3: "incentive"}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _body(row: dict[str, Any], key: str) -> dict[str, Any]:
    body = row.get(key)
    if not isinstance(body, dict):
        raise BadRecord(f"msgtype {row.get('msgtype')!r} without its `{key}` object")
    return body


def _count(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRecord(f"`{key}` must be a non-negative integer, not {value!r}")
    return value


def _inner(content: Any) -> dict[str, Any]:
    """A chatrecord or mixed item's ``content``: JSON inside a string."""
    if isinstance(content, dict):
        return content
    if not isinstance(content, str):
        return {}
    try:
        parsed = json.loads(content)
    except json.JSONDecodeError:
        return {"content": content}
    return parsed if isinstance(parsed, dict) else {"content": str(parsed)}


def _item_text(kind: str, inner: dict[str, Any]) -> str:
    if "content" in inner and isinstance(inner["content"], str):
        return inner["content"]
    if "title" in inner:
        return _str(inner.get("title"))
    return f"[{kind}]"


class WecomArchiveImporter:
    name = "wecom-archive"
    title = "WeCom conversation-content archive (DecryptData JSON lines)"

    def sniff(self, head: str) -> bool:
        first = head.lstrip().split("\n", 1)[0]
        return first.startswith("{") and '"msgid"' in first and (
            '"msgtype"' in first or '"action"' in first)

    def read(self, source: Source) -> Iterator[ArchiveEvent | ReadError]:
        return json_lines(source, self.parse)

    def parse(self, row: dict[str, Any], file: str, line: int) -> ArchiveEvent | None:
        if row.get("action") == "switch":
            return None
        msgid = row.get("msgid")
        if not isinstance(msgid, str | int) or isinstance(msgid, bool) or msgid == "":
            raise BadRecord("`msgid` is missing")
        msgtype = row.get("msgtype")
        if not isinstance(msgtype, str):
            raise BadRecord("`msgtype` is missing")
        sender = _str(row.get("from"))
        roomid = _str(row.get("roomid"))
        tolist = _list(row.get("tolist"))
        # An empty roomid is a one-to-one chat: the chat is the pair.
        group = roomid or dm_group(sender, _str(tolist[0]) if tolist else "")
        base: dict[str, Any] = {"id": str(msgid), "ts": from_epoch(row.get("msgtime"),
                                                                    millis=True, field="msgtime"),
                                "group": group, "sender": sender, "source": self.name,
                                "file": file, "line": line}
        if msgtype == "text":
            body = _body(row, "text")
            return ArchiveEvent("message", text=_str(body.get("content")), **base)
        if msgtype in ("markdown", "news"):
            info = _body(row, "info")
            if msgtype == "markdown":
                return ArchiveEvent("message", text=_str(info.get("content")), **base)
            items = _list(info.get("item"))
            text = "\n".join(f"{_str(i.get('title'))} {_str(i.get('description'))}".strip()
                             for i in items if isinstance(i, dict))
            return ArchiveEvent("message", text=text, media="news", **base)
        if msgtype == "revoke":
            body = _body(row, "revoke")
            pre = body.get("pre_msgid")
            if not isinstance(pre, str | int) or pre == "":
                raise BadRecord("revoke without `pre_msgid`")
            return ArchiveEvent("recall", recalled_id=str(pre), **base)
        if msgtype in ("redpacket", "external_redpacket"):
            body = _body(row, "redpacket")
            kind = body.get("type")
            return ArchiveEvent(
                "red_envelope", amount_fen=_count(body, "totalamount"),
                parts=_count(body, "totalcnt"), wish=_str(body.get("wish")) or None,
                envelope_type=ENVELOPE_TYPES.get(kind, str(kind)) if kind is not None else None,
                text=_str(body.get("wish")),
                extra={"external": True} if msgtype == "external_redpacket" else {}, **base)
        if msgtype == "chatrecord":
            body = _body(row, "chatrecord")
            raw_items = _list(body.get("item"))
            items = []
            for item in raw_items:
                if not isinstance(item, dict):
                    continue
                inner = _inner(item.get("content"))
                kind = _str(item.get("type")).removeprefix("ChatRecord").lower() or "text"
                ts = item.get("msgtime")
                items.append(RecordItem(_str(item.get("from")) or "", from_epoch(
                    ts, field="chatrecord item msgtime") if ts is not None else None,
                    _item_text(kind, inner)))
            return ArchiveEvent("chat_record", text=_str(body.get("title")),
                                items=tuple(items), **base)
        if msgtype == "mixed":
            body = _body(row, "mixed")
            raw_items = _list(body.get("item"))
            parts = [_item_text(_str(i.get("type")), _inner(i.get("content")))
                     for i in raw_items if isinstance(i, dict)]
            return ArchiveEvent("message", text="\n".join(parts), **base)
        if msgtype == "link":
            body = _body(row, "link")
            return ArchiveEvent("message", media="link", text=" ".join(
                x for x in (_str(body.get("title")), _str(body.get("description")),
                            _str(body.get("link_url"))) if x), **base)
        if msgtype == "card":
            body = _body(row, "card")
            return ArchiveEvent("message", media="card", text=_str(body.get("corpname")),
                                extra={"card_userid": _str(body.get("userid"))}, **base)
        if msgtype == "location":
            body = _body(row, "location")
            return ArchiveEvent("message", media="location", text=" ".join(
                x for x in (_str(body.get("title")), _str(body.get("address"))) if x), **base)
        if msgtype == "meeting":
            body = _body(row, "meeting")
            return ArchiveEvent("message", media="meeting", text=" ".join(
                x for x in (_str(body.get("topic")), _str(body.get("address")),
                            _str(body.get("remarks"))) if x), **base)
        if msgtype == "vote":
            body = _body(row, "vote")
            options = _list(body.get("voteitem"))
            return ArchiveEvent("message", media="vote", text="\n".join(
                [_str(body.get("votetitle")), *map(_str, options)]), **base)
        if msgtype in MEDIA:
            raw = row.get(msgtype)
            body = raw if isinstance(raw, dict) else {}
            title = _str(body.get("filename") or body.get("title"))
            return ArchiveEvent("message", media=MEDIA[msgtype], text=title, **base)
        raise BadRecord(f"unknown msgtype {msgtype!r}")
