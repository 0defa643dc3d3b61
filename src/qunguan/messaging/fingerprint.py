"""Content fingerprint stored on every copy of a message (CR-6)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")


def fingerprint(text: str) -> str:
    """SHA-256 of the text after NFKC and whitespace folding, so trivially re-spaced copies
    share a fingerprint. The rumour matcher adds fuzzier layers on top."""
    folded = _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    return hashlib.sha256(folded.encode()).hexdigest()
