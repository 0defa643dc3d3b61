"""Money is integer fen, parsed exactly from decimal strings."""

from __future__ import annotations

import pytest

from qunguan.kernel.money import MAX_FEN, format_fen, yuan_to_fen


@pytest.mark.parametrize(("text", "fen"), [
    ("12.34", 1234), ("0.01", 1), ("0", 0), ("12", 1200), ("12.3", 1230), ("12.340", 1234),
    ("12.3400", 1234), (" 3.10 ", 310), ("-1.5", -150), ("+2", 200), ("-0.00", 0),
    ("0.07", 7), ("0.29", 29), ("1.13", 113), ("19.99", 1999),  # floats get these wrong
    ("92233720368547758.07", MAX_FEN),
])
def test_yuan_to_fen_is_exact(text: str, fen: int) -> None:
    assert yuan_to_fen(text) == fen
    assert type(yuan_to_fen(text)) is int


@pytest.mark.parametrize("text", ["12.345", "0.001", "0.009", "1.0001", "-0.005"])
def test_yuan_to_fen_rejects_sub_fen(text: str) -> None:
    with pytest.raises(ValueError, match="more precise than one fen"):
        yuan_to_fen(text)


@pytest.mark.parametrize("text", [
    "", " ", "abc", "12,34", "1,000", "¥12", "12元", ".5", "1.", "--1", "+-1", "12.3.4", "1 2",
    "1e2", "1E-2", "NaN", "nan", "sNaN", "Infinity", "-inf", "0x10", "１２", "١٢", "12\n3",
    "9" * 18, "1" + "0" * 10_000, "92233720368547758.08", "-92233720368547758.08",
])
def test_yuan_to_fen_rejects_garbage(text: str) -> None:
    """Only plain decimal notation; never an exception other than ValueError, never a huge
    number built from a short exponent."""
    with pytest.raises(ValueError, match="amount"):
        yuan_to_fen(text)


@pytest.mark.parametrize("value", [12.34, 1234, None, b"12.34"])
def test_yuan_to_fen_rejects_non_strings(value: object) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        yuan_to_fen(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fen", "text"), [
    (12345, "123.45"), (0, "0.00"), (1, "0.01"), (10, "0.10"), (100, "1.00"), (-5, "-0.05"),
    (-12345, "-123.45"), (MAX_FEN, "92233720368547758.07"),
])
def test_format_fen(fen: int, text: str) -> None:
    assert format_fen(fen) == text


@pytest.mark.parametrize("fen", [0, 1, 9, 10, 99, 100, 101, 123456789, -1, -100, -987654321,
                                 MAX_FEN, -MAX_FEN])
def test_round_trip(fen: int) -> None:
    assert yuan_to_fen(format_fen(fen)) == fen
