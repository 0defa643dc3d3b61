"""What every rumour layer sees of a text: ``kernel.text.normalise`` after a length cut, and
the character n-grams and shingles made from it."""

from __future__ import annotations

import hashlib
import re

from qunguan.kernel.text import normalise

# Long messages are cut so that a 10,000-character post costs what a short one does. The raw
# text is cut first (normalising a megabyte would itself blow the budget), then the normalised
# text keeps its head and its tail: a rumour states its claim at the start, and chain letters
# repeat the call to forward at the end.
RAW_LIMIT = 4000
HEAD_CHARS = 480
TAIL_CHARS = 160

_NON_WORD = re.compile(r"[\W_]+")


def prepare(text: str) -> str:
    """The normalised, length-bounded form of ``text`` ('' when nothing is left)."""
    if len(text) > RAW_LIMIT:
        text = text[: RAW_LIMIT - 1000] + " " + text[-1000:]
    folded = normalise(text)
    if len(folded) > HEAD_CHARS + TAIL_CHARS:
        folded = folded[:HEAD_CHARS] + " " + folded[-TAIL_CHARS:]
    return folded


def fingerprint(prepared: str) -> str:
    """Exact-match key of a prepared text."""
    return hashlib.sha256(prepared.encode()).hexdigest()


def compact(prepared: str) -> str:
    """Letters, digits and CJK only: punctuation and spaces carry no claim."""
    return _NON_WORD.sub("", prepared)


def grams(prepared: str) -> set[str]:
    """Characters, character bigrams and trigrams of the compact text. Character n-grams need
    no word segmenter and survive the small edits copies carry; single characters let
    paraphrases that share words but not their order still meet (they raised recall@1 on
    CHECKED from 0.88 to 0.92 in the first measurement)."""
    s = compact(prepared)
    out = set(s)
    out.update(s[i : i + 2] for i in range(len(s) - 1))
    out.update(s[i : i + 3] for i in range(len(s) - 2))
    return out


def shingles(prepared: str, k: int = 3) -> set[str]:
    """Character k-shingles for MinHash (near-verbatim copies)."""
    s = compact(prepared)
    if len(s) <= k:
        return {s} if s else set()
    return {s[i : i + k] for i in range(len(s) - k + 1)}
