"""``wechat-csv``: CSV exports of personal WeChat made by the common open-source export
tools, recognised by their header row:

- MemoTrace / WeChatMsg: ``localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,
  StrContent,StrTime,Remark,NickName,Sender`` (numeric types: 1 text, 3 image, 34 voice, 43
  video, 47 sticker, 48 location, 49 app messages with ``SubType`` 5 link, 6 file, 19 chat
  record, 57 quote, 2000 transfer, 2001 red envelope; 10000 and 10002 system lines);
- PyWxDump: ``id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime`` (Chinese
  type names: 文本, 图片, 红包, 转账, 撤回消息, 系统通知, …);
- chatlog: ``Time,SenderName,Sender,TalkerName,Talker,Content`` (no type: "[红包]",
  "[转账]" and "[图片]" in the content).

Red envelopes in personal-WeChat exports carry no amount: the event says so
(``amount_fen`` None, ``extra.amount`` "not in export"). Transfers carry theirs ("￥12.50").
System lines about joining, leaving, removal and recalls become membership and recall events.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from qunguan.importers.common import BadRecord, amount_in, dm_group, from_epoch, from_text
from qunguan.importers.events import ArchiveEvent
from qunguan.importers.reading import MAX_LINE_BYTES, ReadError, Source

LAYOUTS: dict[str, tuple[str, ...]] = {
    "memotrace": ("localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status",
                  "StrContent", "StrTime", "Remark", "NickName", "Sender"),
    "pywxdump": ("id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src",
                 "CreateTime"),
    "chatlog": ("Time", "SenderName", "Sender", "TalkerName", "Talker", "Content"),
}
# The columns without which a layout's rows cannot become events.
REQUIRED: dict[str, tuple[str, ...]] = {
    "memotrace": ("localId", "TalkerId", "Type", "CreateTime", "StrContent"),
    "pywxdump": ("MsgSvrID", "type_name", "talker", "room_name", "msg", "CreateTime"),
    "chatlog": ("Time", "Sender", "Talker", "Content"),
}
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M")
NO_AMOUNT = {"amount": "not in export"}
MEDIA_TYPES = {3: "image", 34: "voice", 42: "card", 43: "video", 47: "sticker",
               48: "location", 50: "call"}
APP_MEDIA = {4: "link", 5: "link", 6: "file", 8: "sticker", 33: "mini_program",
             36: "mini_program"}
NAMED_MEDIA = (("图片", "image"), ("语音", "voice"), ("视频", "video"), ("表情", "sticker"),
               ("位置", "location"), ("文件", "file"), ("名片", "card"), ("通话", "call"),
               ("小程序", "mini_program"), ("链接", "link"), ("卡片", "link"))
TAGS = {"[图片]": "image", "[语音]": "voice", "[视频]": "video", "[动画表情]": "sticker",
        "[表情]": "sticker", "[位置]": "location", "[文件]": "file", "[名片]": "card",
        "[链接]": "link", "[小程序]": "mini_program"}

_Q = r"[\"“”]?"
_INVITE = re.compile(rf"{_Q}(.+?){_Q}邀请{_Q}(.+?){_Q}加入了?群聊")
_SCAN = re.compile(rf"{_Q}(.+?){_Q}通过扫描.*加入了?群聊")
_REMOVE = re.compile(rf"{_Q}(.+?){_Q}将{_Q}(.+?){_Q}移出了?群聊")
_LEAVE = re.compile(rf"{_Q}(.+?){_Q}退出了?群聊")
_RECALL = re.compile(rf"{_Q}(.+?){_Q}撤回了一条消息")
_XML = re.compile(r"^\s*<")


@dataclass
class _Row:
    id: str
    ts: Any
    group: str
    sender: str
    sender_name: str
    group_name: str
    text: str


def _system(row: _Row, base: dict[str, Any]) -> ArchiveEvent:
    text = row.text
    if m := _INVITE.search(text):
        return ArchiveEvent("membership", action="invite", members=tuple(
            x.strip("\"“” ") for x in re.split("[、,，]", m.group(2))), text=text,
                            extra={"by": m.group(1)}, **base)
    if m := _REMOVE.search(text):
        return ArchiveEvent("membership", action="remove", members=(m.group(2),), text=text,
                            extra={"by": m.group(1)}, **base)
    if m := _SCAN.search(text):
        return ArchiveEvent("membership", action="join", members=(m.group(1),), text=text,
                            **base)
    if m := _LEAVE.search(text):
        return ArchiveEvent("membership", action="leave", members=(m.group(1),), text=text,
                            **base)
    if _RECALL.search(text):
        return ArchiveEvent("recall", text=text, **base)
    if "红包" in text:
        return ArchiveEvent("red_envelope", text=text, extra=NO_AMOUNT, **base)
    return ArchiveEvent("system", text=text, **base)


def _by_tag(base: dict[str, Any], text: str) -> ArchiveEvent:
    stripped = text.strip()
    if stripped.startswith("[红包]") or "微信红包" in stripped[:20]:
        return ArchiveEvent("red_envelope", text=stripped, extra=NO_AMOUNT, **base)
    if stripped.startswith("[转账]") or stripped.startswith("[转账收款]"):
        return ArchiveEvent("transfer", text=stripped, amount_fen=amount_in(stripped), **base)
    if stripped.startswith("[聊天记录]"):
        return ArchiveEvent("chat_record", text=stripped.removeprefix("[聊天记录]").strip(),
                            **base)
    for tag, media in TAGS.items():
        if stripped.startswith(tag):
            return ArchiveEvent("message", media=media, text=stripped[len(tag):].strip(),
                                **base)
    return ArchiveEvent("message", text=text, **base)


class WechatCsvImporter:
    name = "wechat-csv"
    title = "Personal WeChat CSV (MemoTrace/WeChatMsg, PyWxDump, chatlog)"

    def sniff(self, head: str) -> bool:
        return self._layout(next(csv.reader([head.split("\n", 1)[0]]), [])) is not None

    @staticmethod
    def _layout(header: list[str]) -> str | None:
        columns = {c.strip() for c in header}
        best = None
        for name, layout in LAYOUTS.items():
            # Most of the layout's columns: a header missing one is still recognised, and
            # the missing column is reported.
            if len(columns & set(layout)) >= len(layout) - 2:
                best = name
        return best

    def read(self, source: Source) -> Iterator[ArchiveEvent | ReadError]:
        errors: list[ReadError] = []
        last = [0]

        def feed() -> Iterator[str]:
            for number, line in source.lines():
                last[0] = number
                if isinstance(line, ReadError):
                    errors.append(line)
                    continue
                yield line + "\n"

        csv.field_size_limit(MAX_LINE_BYTES)
        reader = csv.reader(feed())
        header: list[str] | None = None
        layout = ""
        while True:
            start = last[0] + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield from errors
                errors.clear()
                yield ReadError(source.name, start, f"not CSV ({exc})")
                continue
            yield from errors
            errors.clear()
            if not fields or not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip() for f in fields]
                found = self._layout(header)
                if found is None:
                    yield ReadError(source.name, start, "header matches no known WeChat CSV "
                                    "layout (MemoTrace, PyWxDump, chatlog); file skipped")
                    return
                layout = found
                missing = [c for c in REQUIRED[layout] if c not in header]
                if missing:
                    yield ReadError(source.name, start, f"{layout} header lacks column(s) "
                                    f"{', '.join(missing)}; file skipped")
                    return
                continue
            if len(fields) != len(header):
                yield ReadError(source.name, start, f"{len(fields)} fields where the header "
                                f"has {len(header)}")
                continue
            row = dict(zip(header, fields, strict=True))
            try:
                yield getattr(self, "_" + layout)(row, source.name, start)
            except BadRecord as exc:
                yield ReadError(source.name, start, str(exc))
        yield from errors

    def _base(self, r: _Row, file: str, line: int) -> dict[str, Any]:
        return {"id": r.id, "ts": r.ts, "group": r.group, "sender": r.sender,
                "sender_name": r.sender_name, "group_name": r.group_name, "source": self.name,
                "file": file, "line": line}

    def _memotrace(self, row: dict[str, str], file: str, line: int) -> ArchiveEvent:
        try:
            kind, sub = int(row["Type"] or 0), int(row.get("SubType") or 0)
        except ValueError:
            raise BadRecord(f"`Type`/`SubType` not numbers: {row['Type']!r}, "
                            f"{row.get('SubType')!r}") from None
        ts = from_epoch(row["CreateTime"], field="CreateTime") if row["CreateTime"].strip() \
            .isdigit() else from_text(row["CreateTime"], TIME_FORMATS, field="CreateTime")
        talker = row["TalkerId"]
        room = talker.endswith("@chatroom")
        # System lines (10000, 10002) have no sender; in a one-to-one chat the other side
        # is the talker.
        sender = row.get("Sender", "") or ("me" if row.get("IsSender") == "1" else
                                           "" if room or kind >= 10000 else talker)
        group = talker if room else dm_group("me", talker)
        # A one-to-one chat's remark and nickname name the other person: kept as the sender's
        # name (pseudonymised in reports), never as the chat's name.
        r = _Row(row["localId"], ts, group, sender, "" if room else row.get("NickName", ""),
                 "",
                 row["StrContent"])
        base = self._base(r, file, line)
        text = row["StrContent"]
        if kind == 1:
            return ArchiveEvent("message", text=text, **base)
        if kind in (10000, 10002):
            return _system(r, base)
        if kind == 49:
            if sub == 2001:
                return ArchiveEvent("red_envelope", text=_plain(text), extra=NO_AMOUNT, **base)
            if sub == 2000:
                return ArchiveEvent("transfer", amount_fen=amount_in(text), text=_plain(text),
                                    **base)
            if sub == 19:
                return ArchiveEvent("chat_record", text=_plain(text), **base)
            if sub == 57:
                return ArchiveEvent("message", text=_plain(text), **base)
            return ArchiveEvent("message", media=APP_MEDIA.get(sub, "app"), text=_plain(text),
                                **base)
        if kind in MEDIA_TYPES:
            return ArchiveEvent("message", media=MEDIA_TYPES[kind], **base)
        return ArchiveEvent("message", media="other", text=_plain(text),
                            extra={"type": kind, "subtype": sub}, **base)

    def _pywxdump(self, row: dict[str, str], file: str, line: int) -> ArchiveEvent:
        chat = row["room_name"]
        room = chat.endswith("@chatroom")
        sender = row["talker"] or ("me" if row.get("is_sender") == "1" else
                                   "" if room or "系统" in row["type_name"] else chat)
        group = chat if room else dm_group("me", chat)
        created = row["CreateTime"]
        ts = from_epoch(created, field="CreateTime") if created.strip().isdigit() else \
            from_text(created, TIME_FORMATS, field="CreateTime")
        r = _Row(row["MsgSvrID"] or row.get("id", ""), ts, group, sender, "", "", row["msg"])
        base = self._base(r, file, line)
        name = row["type_name"]
        text = row["msg"]
        if "撤回" in name:
            return ArchiveEvent("recall", text=text, **base)
        if "转账" in name:
            return ArchiveEvent("transfer", amount_fen=amount_in(text), text=text, **base)
        if "红包" in name:
            return ArchiveEvent("red_envelope", text=text, extra=NO_AMOUNT, **base)
        if "聊天记录" in name or "合并转发" in name:
            return ArchiveEvent("chat_record", text=text, **base)
        if "系统" in name:
            return _system(r, base)
        if "文本" in name or "引用" in name:
            return ArchiveEvent("message", text=text, **base)
        for word, media in NAMED_MEDIA:
            if word in name:
                return ArchiveEvent("message", media=media, text=text if media in (
                    "link", "file", "location", "card") else "", **base)
        return ArchiveEvent("message", media="other", text=text, extra={"type": name}, **base)

    def _chatlog(self, row: dict[str, str], file: str, line: int) -> ArchiveEvent:
        talker = row["Talker"]
        ts = from_text(row["Time"], TIME_FORMATS, field="Time")
        group = talker if talker.endswith("@chatroom") else dm_group("me", talker)
        r = _Row(f"{talker}:{line}", ts, group, row["Sender"], row.get("SenderName", ""),
                 row.get("TalkerName", "") if talker.endswith("@chatroom") else "",
                 row["Content"])
        base = self._base(r, file, line)
        if not row["Sender"] and any(w in row["Content"] for w in ("群聊", "撤回")):
            return _system(r, base)
        return _by_tag(base, row["Content"])


def _plain(text: str) -> str:
    """The title of an app message's XML (``<title>``), or the text as it is."""
    if not _XML.match(text):
        return text
    m = re.search(r"<title>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</title>", text, re.S)
    return m.group(1).strip() if m else ""

