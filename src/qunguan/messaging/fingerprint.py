"""Content fingerprint stored on every copy of a message (CR-6)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from qunguan.kernel.text import normalise

_SPACE = re.compile(r"\s+")


def fingerprint(text: str) -> str:
    """SHA-256 of the normalised text (``kernel.text.normalise``), so that copies re-typed in
    traditional characters, full-width letters, with emoji or forwarding boilerplate added,
    share one fingerprint. Text that normalises to nothing (only emoji, say) is fingerprinted
    as written, so such messages do not all collide."""
    folded = normalise(text) or _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    return hashlib.sha256(folded.encode()).hexdigest()
