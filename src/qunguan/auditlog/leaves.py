"""The canonical serialisation of an audit record as a leaf of the Merkle log (version 1).

Stable across versions and databases; docs/auditlog.md is its specification. A leaf entry is
the UTF-8 bytes of compact JSON (no spaces, keys sorted by code point, non-ASCII written as
itself) of exactly these keys:

    v               1
    record_id       the audit record's id (integer)
    event_type      its type number (integer; numbers are never reused, names may be)
    occurred_at     UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ" (always six fractional digits)
    acting_id       who acted (integer)
    subject_type    string or null
    subject_id      string or null
    group_id        integer or null
    content_sha256  lowercase hex SHA-256 of the record's *content*

The content is what a later purge may remove or anonymise (the client's address and port,
fingerprint, request id and the ``extra`` evidence, e.g. the text of a recalled message): the
canonical JSON of {client_fingerprint, extra, request_id, source_ip, source_port}. The leaf
commits only to its hash, so the tree still verifies after the content is gone.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Protocol

VERSION = 1
CONTENT_KEYS = ("client_fingerprint", "extra", "request_id", "source_ip", "source_port")
LEAF_KEYS = ("v", "record_id", "event_type", "occurred_at", "acting_id", "subject_type",
             "subject_id", "group_id", "content_sha256")


class RecordLike(Protocol):
    """What a leaf is made of: an AuditRecord row (ORM or Core) has these attributes."""

    id: int
    event_type: int
    occurred_at: datetime
    acting_id: int
    subject_type: str | None
    subject_id: str | None
    group_id: int | None
    source_ip: str | None
    source_port: int | None
    client_fingerprint: str | None
    request_id: str | None
    extra: dict[str, Any]


# One encoder, built once: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False)


def canonical_json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


def utc_text(moment: datetime) -> str:
    """"YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC (six fractional digits, even when zero)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime in an audit record")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def content_of(record: RecordLike) -> dict[str, Any]:
    return {"client_fingerprint": record.client_fingerprint, "extra": record.extra or {},
            "request_id": record.request_id, "source_ip": record.source_ip,
            "source_port": record.source_port}


def content_sha256(content: dict[str, Any]) -> bytes:
    return hashlib.sha256(canonical_json(content)).digest()


def leaf_fields(record: RecordLike, content_hash: bytes) -> dict[str, Any]:
    return {"v": VERSION, "record_id": record.id, "event_type": record.event_type,
            "occurred_at": utc_text(record.occurred_at), "acting_id": record.acting_id,
            "subject_type": record.subject_type, "subject_id": record.subject_id,
            "group_id": record.group_id, "content_sha256": content_hash.hex()}


def leaf_entry(record: RecordLike, content_hash: bytes | None = None) -> bytes:
    """The leaf bytes of ``record``; its content hash is computed unless given (a record whose
    content was purged is re-serialised with the hash kept at logging time)."""
    if content_hash is None:
        content_hash = content_sha256(content_of(record))
    return canonical_json(leaf_fields(record, content_hash))


def parse_leaf(entry: bytes) -> dict[str, Any]:
    """The fields of a leaf entry; ValueError when it is not a canonical version-1 leaf."""
    try:
        fields = json.loads(entry.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"leaf is not UTF-8 JSON ({exc})") from None
    if not isinstance(fields, dict) or set(fields) != set(LEAF_KEYS):
        raise ValueError("leaf does not have exactly the version-1 keys")
    if fields["v"] != VERSION:
        raise ValueError(f"unknown leaf version {fields['v']!r}")
    if canonical_json(fields) != entry:
        raise ValueError("leaf is not in canonical form")
    return fields


def is_purged(content: dict[str, Any] | None) -> bool:
    """Purged content is replaced by ``{"purged": {...what and by which record...}}`` in the
    record's ``extra``; its hash no longer matches and is not expected to."""
    return content is None or "purged" in (content.get("extra") or {})
