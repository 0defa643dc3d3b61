"""The internal event shape every importer produces (docs/importers.md, "Event shape").

One ``ArchiveEvent`` per thing that happened in an exported chat: a message, a forward, a
chat record (a bundle of forwarded messages), a recall, a red envelope, a transfer, a
membership change, or a system line. Fields that the export does not carry stay ``None``:
a personal-WeChat red envelope has no amount, and ``amount_fen`` is then ``None``, never 0.
Money is integer fen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["message", "forward", "chat_record", "recall", "red_envelope", "transfer",
               "membership", "system"]
KINDS: tuple[Kind, ...] = ("message", "forward", "chat_record", "recall", "red_envelope",
                           "transfer", "membership", "system")
# Kinds that carry text someone wrote (screened, matched against the debunk bank).
TEXT_KINDS = frozenset({"message", "forward", "chat_record"})
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class RecordItem:
    """One message inside a chat record (WeCom ``chatrecord``, WeChat merged forwards)."""

    sender_name: str
    ts: datetime | None
    text: str


@dataclass(frozen=True, slots=True)
class ArchiveEvent:
    """One event of an archive. ``id`` is unique within its source (the export's own message
    id where it has one, kept as a string: WeCom ids exceed 64 bits); ``group`` is the chat's
    identifier (``dm:A|B`` for a one-to-one chat); ``sender`` the export's identifier of the
    sender (a wxid, a WeCom userid, a Telegram ``user123``, a WhatsApp display name), which
    reports pseudonymise."""

    kind: Kind
    id: str
    ts: datetime
    group: str
    source: str  # the importer's name
    sender: str = ""
    sender_name: str = ""
    group_name: str = ""
    text: str = ""
    media: str | None = None  # image, file, voice, video, sticker, location, link, card, …
    forwarded_from: str | None = None  # who or what was forwarded, when the export says
    reply_to: str | None = None
    recalled_id: str | None = None  # recall: the message taken back
    amount_fen: int | None = None  # red envelope (when known) or transfer
    parts: int | None = None  # red envelope: how many packets
    envelope_type: str | None = None  # "lucky", "fixed", "exclusive", or the export's code
    wish: str | None = None
    action: str | None = None  # membership: join, leave, remove, invite, create
    members: tuple[str, ...] = ()
    items: tuple[RecordItem, ...] = ()
    file: str = ""
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> str:
        """What was said, with a chat record's items after its title: the text screened."""
        if not self.items:
            return self.text
        return "\n".join([self.text, *(i.text for i in self.items if i.text)]).strip()


def iso_utc(ts: datetime) -> str:
    """The neutral form's time: ISO 8601 in UTC with a Z."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_json(event: ArchiveEvent) -> dict[str, Any]:
    """The neutral JSONL form: ``v``, ``kind``, ``id``, ``ts`` (ISO 8601, UTC), ``group``,
    ``source`` and every other field that is set (empty ones are left out)."""
    row: dict[str, Any] = {"v": FORMAT_VERSION, "kind": event.kind, "id": event.id,
                           "ts": iso_utc(event.ts), "group": event.group, "source": event.source}
    for name in ("sender", "sender_name", "group_name", "text", "media", "forwarded_from",
                 "reply_to", "recalled_id", "amount_fen", "parts", "envelope_type", "wish",
                 "action"):
        value = getattr(event, name)
        if value not in (None, ""):
            row[name] = value
    if event.members:
        row["members"] = list(event.members)
    if event.items:
        row["items"] = [{"sender_name": i.sender_name, "ts": iso_utc(i.ts) if i.ts else None,
                         "text": i.text} for i in event.items]
    if event.extra:
        row["extra"] = event.extra
    return row


def dumps(event: ArchiveEvent) -> str:
    return json.dumps(to_json(event), ensure_ascii=False, separators=(",", ":"))
