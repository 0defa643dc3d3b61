"""Personal data kept out of what is shown of archives (the audit report; the API and CLI
over imported events): resident ID, bank card and mainland mobile numbers (screening's
detection) and, in the API and CLI, any phone-like number: exports name people by their
numbers (a WhatsApp sender not in the phone's contacts, a WeChat id that is a mobile number,
a chat exported under a number, a number with its country code in a message)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from qunguan.screening.detectors import find_personal_data

MASK = "•"
# 7 to 15 digits (E.164's longest), optionally after "+", with spaces, dots, dashes or
# brackets between them, not glued to a letter or digit before (Telegram's "user123456789"
# is an account number, not a phone number) or a digit after, and not a WeChat group's id
# ("20873487236@chatroom" names a chat, not a person).
_PHONE = re.compile(r"(?<![0-9A-Za-z])\+?\(?[0-9](?:[ \-.()]?[0-9]){6,14}(?![0-9]|@chatroom)")


def _visible(text: str) -> str:
    """NFKC, without format characters (which render as nothing and split numbers)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf") if \
        not text.isascii() else text


def mask(text: str) -> str:
    """The text as shown in audit reports: NFKC, format characters removed, and every
    resident ID, bank card and mobile number replaced by dots (detection as screening's)."""
    text = _visible(text)
    spans = sorted(s for found in find_personal_data(text).values() for s in found)
    for start, end in reversed(spans):
        text = text[:start] + MASK * (end - start) + text[end:]
    return text


def mask_personal(value: str) -> str:
    """``mask`` after every phone-like number is dotted out, with its country code: what the
    API and the CLI show of archived events' texts, senders, members and chats."""
    return mask(_PHONE.sub(lambda m: MASK * len(m.group()), _visible(value)))


# Message ids ("1018_1718001080000_external", "tg:1234567890:15") hold long numbers that are
# not phones: only ``mask``'s checked personal data is dotted out of them. The fields of the
# shape itself are shown as they are.
ID_FIELDS = frozenset({"id", "reply_to", "recalled_id"})
SHAPE_FIELDS = frozenset({"v", "kind", "ts", "source", "media", "action", "envelope_type",
                          "amount_fen", "parts"})


def mask_payload(value: Any) -> Any:
    """A neutral-JSON event (or any JSON value in it) with personal data masked, recursively
    (a chat record's items name their senders)."""
    if isinstance(value, str):
        return mask_personal(value)
    if isinstance(value, list):
        return [mask_payload(v) for v in value]
    if isinstance(value, dict):
        return {k: v if k in SHAPE_FIELDS else mask(v) if k in ID_FIELDS and isinstance(v, str)
                else mask_payload(v) for k, v in value.items()}
    return value
