"""Identifiers: integer primary keys for rows, random opaque strings for tokens and codes."""

from __future__ import annotations

import secrets

# Row ids are signed 64-bit (BIGINT on PostgreSQL, INTEGER on SQLite); anything larger
# must be refused at the edge rather than fail in the database driver.
MAX_ID = 2**63 - 1

# Crockford base32 without I, L, O, U: easy to read aloud and to type from a poster.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_code(length: int = 8) -> str:
    """A visible code such as a group code: 8 characters of base32, 40 random bits."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))
