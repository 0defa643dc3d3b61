"""Identifiers: visible codes and opaque tokens."""

from __future__ import annotations

import re

from qunguan.kernel.ids import new_code, new_token

# Crockford base32: no I, L, O or U, which read as 1, 1, 0 and V.
ALPHABET = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_new_code_alphabet_and_length() -> None:
    codes = [new_code() for _ in range(2000)]
    assert all(len(c) == 8 for c in codes)
    used = set("".join(codes))
    assert used <= ALPHABET
    assert not used & set("ILOU")
    assert used == ALPHABET  # 16000 draws use every letter: the alphabet is all in play
    assert len(set(codes)) == len(codes)  # 40 random bits: no collision in 2000 draws


def test_new_code_length_is_a_parameter() -> None:
    assert len(new_code(12)) == 12
    assert len(new_code(1)) == 1
    assert new_code(0) == ""


def test_new_token_is_url_safe_and_unique() -> None:
    tokens = {new_token() for _ in range(500)}
    assert len(tokens) == 500
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", t) for t in tokens)  # 32 bytes
    assert len(new_token(9)) == 12
