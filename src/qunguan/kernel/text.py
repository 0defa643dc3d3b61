"""Checks every stored text passes, whatever capability stores it."""

from __future__ import annotations

import re
import unicodedata

from qunguan.kernel.errors import QunguanError


def is_storable(text: str) -> bool:
    """False for NUL (PostgreSQL text cannot hold it) and lone surrogates (valid as JSON
    escapes, but not encodable as UTF-8): both would otherwise fail in the driver."""
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


def optional_text(value: str | None, limit: int = 500) -> str | None:
    """A free-text note or reason: trimmed, cut to ``limit``, None when blank."""
    return (value or "").strip()[:limit] or None


def require_storable(text: str, field: str) -> str:
    if not is_storable(text):
        raise QunguanError("invalid_request", f"{field} contains characters that cannot be "
                           "stored.", fields=[field])
    return text


def require_reason(text: str, field: str = "reason", limit: int = 2000) -> str:
    """An officer's reason or note: storable, trimmed, not blank, at most ``limit``."""
    text = require_storable(text, field).strip()
    if not text:
        raise QunguanError("invalid_request", "Say why.", fields=[field])
    if len(text) > limit:
        raise QunguanError("invalid_request", f"At most {limit} characters.", fields=[field])
    return text


# --- normalisation ------------------------------------------------------------------------
# One function for every matcher: fingerprints of forwarded copies now, screening lexicons and
# the rumour matcher later. It folds the variations people (and evasion) use so that
# "機 密", "机密" and "ｊｉ密" style spellings meet; it is not for display.

_T2S = None  # OpenCC converter, built on first use (its dictionaries ship in the wheel)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_ZERO_WIDTH = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufe00-\ufe0f\u20e3]")
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\U000e0000-\U000e007f]")
# Weibo emoticon codes ([蜡烛], [doge]); bracketed labels that carry meaning stay.
_WEIBO_EMOTICON = re.compile(rf"\[([{_CJK}]{{1,4}}|[a-z]{{2,8}})\]")
_LABELS = frozenset({"谣言", "辟谣", "假", "真", "转", "快讯", "紧急", "通知", "视频", "图片",
                     "组图", "热点", "突发", "提醒", "注意", "官方", "声明"})
_REPOST_MARK = re.compile(r"//\s*@[^:：\s]{1,30}[:：]")
_BOILERPLATE = re.compile(r"^(?:【转】|\[转\]|转发微博|(?:转发|转)(?=[:：\s]))[:：\s]*|转发微博$")
_URL_CHARS = r"[A-Za-z0-9\-._~%!$&'()*+,;=:@/]"
_URL = re.compile(rf"https?://(?:www\.)?([A-Za-z0-9.\-]+(?::\d+)?)((?:/{_URL_CHARS}*)?)"
                  rf"(?:\?{_URL_CHARS}*)?(?:#{_URL_CHARS}*)?", re.I)
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
    # Query strings and fragments are mostly tracking; a short link keeps its code in the path
    # (case and all: it is protected from the lower-casing that follows).
    return f" \x00{host}{path}\x00 "


def _emoticon(match: re.Match[str]) -> str:
    return match.group(0) if match.group(1) in _LABELS else ""


def normalise(text: str) -> str:
    """Unicode NFKC (full-width to half-width included), traditional to simplified Chinese,
    lower case; zero-width and variation characters, emoji and Weibo emoticon codes removed;
    URLs canonicalised (no scheme, no www, no query); forwarding boilerplate (``转发微博``,
    ``【转】``, ``//@name:`` markers) dropped; separators between Chinese characters removed;
    repeated punctuation and whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).replace("\x00", "")
    text = _ZERO_WIDTH.sub("", text)
    text = _URL.sub(_url, _t2s(text))
    # Lower-case everything but the URLs, which _url fenced with NUL characters.
    text = "".join(part if i % 2 else part.lower() for i, part in enumerate(text.split("\x00")))
    text = _EMOJI.sub("", text)
    text = _WEIBO_EMOTICON.sub(_emoticon, text)
    text = _REPOST_MARK.sub(" ", text)
    text = _BOILERPLATE.sub("", text.strip())
    text = _SEPARATED_CJK.sub("", text)
    text = _REPEATED_PUNCT.sub(r"\1", text)
    return _SPACE.sub(" ", text).strip()
