"""Money is integer fen (分) everywhere; a float near money is a bug."""

from __future__ import annotations

import re
from typing import NewType

Fen = NewType("Fen", int)

FEN_PER_YUAN = 100
# The most a BIGINT column holds; an amount beyond it cannot be stored.
MAX_FEN = 2**63 - 1

# Plain decimal notation only: no exponent ("1e3"), no NaN or Infinity, no separators. The
# integer part is bounded so that parsing never builds a huge number from a short string.
_AMOUNT = re.compile(r"([+-]?)([0-9]{1,17})(?:\.([0-9]{1,20}))?")


def yuan_to_fen(text: str) -> Fen:
    """Parse a yuan amount written as a decimal string ("12.34") into fen, exactly.

    Integer arithmetic on the digits: no float, and no Decimal context that could round.
    """
    if not isinstance(text, str):
        raise ValueError(f"not an amount: {text!r}")
    match = _AMOUNT.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an amount: {text!r}")
    sign, whole, fraction = match.groups()
    fraction = fraction or ""
    if fraction[2:].strip("0"):
        raise ValueError(f"more precise than one fen: {text!r}")
    fen = int(whole) * FEN_PER_YUAN + int(fraction[:2].ljust(2, "0"))
    if fen > MAX_FEN:
        raise ValueError(f"too large an amount: {text!r}")
    return Fen(-fen if sign == "-" else fen)


def format_fen(amount: int) -> str:
    """12345 -> '123.45' (yuan)."""
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), FEN_PER_YUAN)
    return f"{sign}{whole}.{part:02d}"
