"""Pseudonyms for the sender identifiers of an export: a keyed hash (HMAC-SHA256), so the
report shows the same pseudonym for the same sender without showing who it is. The key is
random for each run unless one is given (``--key-file``, to compare runs). The mapping back
is kept only when asked for (``--reveal-map``) and written to its own file."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path

_CACHE_SIZE = 100_000


class Pseudonyms:
    def __init__(self, key: bytes | None = None, *, keep_map: bool = False) -> None:
        self.key = key or secrets.token_bytes(32)
        self.keep_map = keep_map
        self.mapping: dict[str, dict[str, list[str]]] = {}
        self._cache: dict[str, str] = {}

    def of(self, sender: str, name: str = "") -> str:
        """``P-`` and 10 hex digits of the keyed hash of the sender's identifier (of the
        display name when the export has no identifier); empty for no sender."""
        ident = sender or name
        if not ident:
            return ""
        pseudonym = self._cache.get(ident)
        if pseudonym is None:
            digest = hmac.new(self.key, ident.encode("utf-8"), hashlib.sha256).hexdigest()[:10]
            pseudonym = f"P-{digest}"
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[ident] = pseudonym
        if self.keep_map:
            entry = self.mapping.setdefault(pseudonym, {"ids": [], "names": []})
            if sender and sender not in entry["ids"]:
                entry["ids"].append(sender)
            if name and name not in entry["names"] and len(entry["names"]) < 20:
                entry["names"].append(name)
        return pseudonym

    def forget_cache(self) -> None:
        """Drop the memoised pseudonyms (they are recomputed on demand)."""
        self._cache = {}

    def write_map(self, path: Path) -> None:
        data = {"what": "The mapping from the pseudonyms of an archive audit report back to "
                "the sender identifiers and display names of the export. It identifies "
                "people: keep it apart from the report, share it only with whoever may know "
                "who sent what, and delete it when the inspection is over.",
                "pseudonyms": self.mapping}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        path.chmod(0o600)


def read_key(path: Path) -> bytes:
    """A key file: at least 16 bytes (its raw content, surrounding whitespace kept)."""
    key = path.read_bytes()
    if len(key) < 16:
        raise ValueError(f"{path}: a pseudonym key needs at least 16 bytes, this has {len(key)}")
    return key
