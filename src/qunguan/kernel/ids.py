"""Identifiers: integer primary keys for rows, random opaque strings for tokens and codes."""

from __future__ import annotations

import secrets
from typing import NewType

AccountId = NewType("AccountId", int)
GroupId = NewType("GroupId", int)
MessageId = NewType("MessageId", int)

# Crockford base32 without I, L, O, U: easy to read aloud and to type from a poster.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_code(length: int = 8) -> str:
    """A visible code such as a group code: 8 characters of base32, 40 random bits."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))
