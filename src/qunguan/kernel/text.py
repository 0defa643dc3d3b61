"""Checks every stored text passes, whatever capability stores it."""

from __future__ import annotations

import re
import unicodedata

from qunguan.kernel.errors import QunguanError


def is_storable(text: str) -> bool:
    """False for NUL (PostgreSQL text cannot hold it) and lone surrogates (valid as JSON
    escapes, but not encodable as UTF-8): both would otherwise fail in the driver."""
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


def require_storable(text: str, field: str) -> str:
    if not is_storable(text):
        raise QunguanError("invalid_request", f"{field} contains characters that cannot be "
                           "stored.", fields=[field])
    return text


# --- normalisation ------------------------------------------------------------------------
# One function for every matcher: fingerprints of forwarded copies now, screening lexicons and
# the rumour matcher later. It folds the variations people (and evasion) use so that
# "機 密", "机密" and "ｊｉ密" style spellings meet; it is not for display.

_T2S = None  # OpenCC converter, built on first use (its dictionaries ship in the wheel)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_ZERO_WIDTH = re.compile("[\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff\ufe00-\ufe0f]")
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\U000e0000-\U000e007f]")
_WEIBO_EMOTICON = re.compile(rf"\[[{_CJK}a-z0-9]{{1,8}}\]")
_REPOST_MARK = re.compile(r"//\s*@[^:：\s]{1,30}[:：]")
_BOILERPLATE = re.compile(r"^(?:【转】|\[转\]|转发微博|转发|转)[:：\s]*|转发微博$")
_URL = re.compile(r"https?://(?:www\.)?([^\s/?#]+)([^\s?#]*)(?:\?[^\s#]*)?(?:#\S*)?", re.I)
_SEPARATED_CJK = re.compile(rf"(?<=[{_CJK}])[\s·•・*_\-|/\\.,，。、]+(?=[{_CJK}])")
_REPEATED_PUNCT = re.compile(r"([!?.,;:~。，！？…、])\1+")
_SPACE = re.compile(r"\s+")


def _t2s(text: str) -> str:
    global _T2S
    if _T2S is None:
        import opencc

        _T2S = opencc.OpenCC("t2s")
    return str(_T2S.convert(text))


def _url(match: re.Match[str]) -> str:
    host, path = match.group(1).lower(), match.group(2).rstrip("/")
    # Query strings and fragments are mostly tracking; a short link keeps its code in the path.
    return f" {host}{path} "


def normalise(text: str) -> str:
    """Unicode NFKC (full-width to half-width included), traditional to simplified Chinese,
    lower case; zero-width and variation characters, emoji and Weibo emoticon codes removed;
    URLs canonicalised (no scheme, no www, no query); forwarding boilerplate (``转发微博``,
    ``【转】``, ``//@name:`` markers) dropped; separators between Chinese characters removed;
    repeated punctuation and whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text)
    text = _t2s(text).lower()
    text = _URL.sub(_url, text)
    text = _EMOJI.sub("", text)
    text = _WEIBO_EMOTICON.sub("", text)
    text = _REPOST_MARK.sub(" ", text)
    text = _BOILERPLATE.sub("", text.strip())
    text = _SEPARATED_CJK.sub("", text)
    text = _REPEATED_PUNCT.sub(r"\1", text)
    return _SPACE.sub(" ", text).strip()
