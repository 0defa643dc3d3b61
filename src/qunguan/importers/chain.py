"""The hash chain of an archive import (docs/audit.md "The hash chain"), pure functions.

Chain 2, every import since migration 0013: an event's link is ``sha256(previous + "\\n" +
canonical JSON of the event without its content, plus "content_sha256")``, where the content
is what retention may remove (``text``, ``wish``, chat-record ``items``) and
``content_sha256`` the SHA-256 of its canonical JSON, kept on the row, so a purged event still
verifies through its content hash. Chain 1, imports made before: the link hashes the whole
payload, so a purged event's link can only be taken as stored."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64
CHAIN_VERSION = 2  # what new imports use; 1 only verifies imports made before 0013
# What retention removes from an archived event: what was written (a chat record's items
# carry their own texts). Who, where, when, what kind and how much stay, like a message row.
CONTENT_FIELDS = ("text", "wish", "items")


def canonical(row: dict[str, Any]) -> bytes:
    """UTF-8 JSON, keys sorted, no spaces."""
    return json.dumps(row, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def chain(previous: str, row: dict[str, Any]) -> str:
    """The next link: SHA-256 of the previous digest and the entry's canonical JSON."""
    return hashlib.sha256(previous.encode() + b"\n" + canonical(row)).hexdigest()


def content_of(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: payload[k] for k in CONTENT_FIELDS if k in payload}


def content_sha256(payload: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the event's content fields."""
    return hashlib.sha256(canonical(content_of(payload))).hexdigest()


def chain_entry(payload: dict[str, Any], content_hash: str) -> dict[str, Any]:
    """What chain 2 hashes for an event: the payload without its content, plus the content's
    hash."""
    entry = {k: v for k, v in payload.items() if k not in CONTENT_FIELDS}
    entry["content_sha256"] = content_hash
    return entry


def link(version: int, previous: str, payload: dict[str, Any],
         content_hash: str | None) -> str:
    """An event's link in a chain of ``version``."""
    if version == 1:
        return chain(previous, payload)
    assert content_hash is not None
    return chain(previous, chain_entry(payload, content_hash))
