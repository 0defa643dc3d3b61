"""API shapes of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditRecordPublic(BaseModel):
    id: int
    type: str
    type_number: int
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


class AuditPage(BaseModel):
    items: list[AuditRecordPublic]
    next_before_id: int | None


class CheckpointPublic(BaseModel):
    id: int
    tree_size: int
    root_hash: str  # base64, as in the note
    key_id: str  # hex
    note: str  # the C2SP signed note: verify it with the log's verifier key
    created_at: datetime
    verifier_keys: list[str]


class InclusionProofPublic(BaseModel):
    record_id: int
    leaf_index: int
    tree_size: int
    leaf: str  # the canonical leaf entry (docs/auditlog.md)
    leaf_hash: str  # base64 of SHA-256(0x00 || leaf) as appended
    proof: list[str]  # base64 node hashes, RFC 9162 §2.1.3
    checkpoint: str | None  # the signed note of that tree size, when one was signed


class ConsistencyProofPublic(BaseModel):
    first: int
    second: int
    proof: list[str]  # base64 node hashes, RFC 9162 §2.1.4
