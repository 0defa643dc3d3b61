"""Money is integer fen (分) everywhere; a float near money is a bug."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import NewType

Fen = NewType("Fen", int)

FEN_PER_YUAN = 100


def yuan_to_fen(text: str) -> Fen:
    """Parse a yuan amount written as a decimal string ("12.34") into fen, exactly."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    fen = value * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"more precise than one fen: {text!r}")
    return Fen(int(fen))


def format_fen(amount: int) -> str:
    """12345 -> '123.45' (yuan)."""
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), FEN_PER_YUAN)
    return f"{sign}{whole}.{part:02d}"
