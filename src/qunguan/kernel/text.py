"""Checks every stored text passes, whatever capability stores it."""

from __future__ import annotations

from qunguan.kernel.errors import QunguanError


def is_storable(text: str) -> bool:
    """False for NUL (PostgreSQL text cannot hold it) and lone surrogates (valid as JSON
    escapes, but not encodable as UTF-8): both would otherwise fail in the driver."""
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


def require_storable(text: str, field: str) -> str:
    if not is_storable(text):
        raise QunguanError("invalid_request", f"{field} contains characters that cannot be "
                           "stored.", fields=[field])
    return text
