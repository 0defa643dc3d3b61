"""The built-in detectors. They register through ``register_detector`` exactly as a third
party's would (``register_builtins``, called from the package's ``__init__``).

All of them are pure functions of the context (no database) and fast enough for the gate.
None decides anything: each reports signals, and the active pack's rules decide.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from stdnum import luhn
from stdnum.cn import ric

from qunguan.kernel.uow import UnitOfWork
from qunguan.screening.registry import (
    FLOOD_WINDOW_SECONDS,
    PackResources,
    ScreeningContext,
    detector,
    register_detector,
)
from qunguan.screening.verdicts import Signal, Stage


@dataclass
class LexiconDetector:
    """Every lexicon of the pack in one Aho-Corasick pass over the normalised text (NFKC,
    traditional to simplified, zero-width characters and separators between Chinese
    characters removed), so "機 密" and "机密" meet. An occurrence of a term that lies inside
    one of the same lexicon's exceptions does not count (机密 inside 手机密码). Label: the
    lexicon's name; count: distinct terms found; evidence: the terms (words of the lexicon,
    never personal data)."""

    name: str = "lexicon"
    stage: Stage = "pre"
    uses_database: bool = False

    def screen(self, uow: UnitOfWork, context: ScreeningContext,
               resources: PackResources) -> list[Signal]:
        matcher = resources.matcher
        if matcher is None:
            return []
        found: dict[str, set[str]] = {}
        hits = list(matcher.find(context.normalised))
        masks: dict[str, list[tuple[int, int]]] = {}
        for start, end, index in hits:
            for lexicon in resources.exceptions_of[index] if resources.exceptions_of else ():
                masks.setdefault(lexicon, []).append((start, end))
        for start, end, index in hits:
            for lexicon in resources.lexicons_of[index]:
                if any(a <= start and end <= b for a, b in masks.get(lexicon, ())):
                    continue
                found.setdefault(lexicon, set()).add(matcher.terms[index])
        return [Signal(self.name, lexicon, 1.0, len(terms), {"terms": sorted(terms)})
                for lexicon, terms in sorted(found.items())]


@dataclass
class RegexDetector:
    """The regular expressions of the pack's rules, over the normalised text. Label: the
    rule's condition (``rule-id#n``); evidence: the spans, not the matched text."""

    name: str = "regex"
    stage: Stage = "pre"
    uses_database: bool = False

    def screen(self, uow: UnitOfWork, context: ScreeningContext,
               resources: PackResources) -> list[Signal]:
        out = []
        for label, pattern in resources.patterns:
            spans = [[m.start(), m.end()] for m in pattern.finditer(context.normalised)][:20]
            if spans:
                out.append(Signal(self.name, label, 1.0, len(spans), {"spans": spans}))
        return out


# Digits may be split by a short run of spaces, dashes, dots, underscores or middle dots
# ("138 1234 5678", "110105  19491231  002X", "6222.0212.…"); NFKC has already turned
# full-width digits and spaces into ASCII ones, and format characters (zero-width spaces and
# joiners, soft hyphens: Unicode category Cf) are removed before matching. The run is bounded
# so that unrelated numbers far apart in a sentence are not read as one.
_SEP = r"[\s\-._\u00b7]{0,3}"
_RESIDENT_ID = re.compile(rf"(?<![0-9])[1-9](?:{_SEP}[0-9]){{16}}{_SEP}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(rf"(?<![0-9])1{_SEP}[3-9](?:{_SEP}[0-9]){{9}}(?![0-9])")
_CARD = re.compile(rf"(?<![0-9])[1-9](?:{_SEP}[0-9]){{15,18}}(?![0-9])")
_DIGITS = re.compile(r"[^0-9Xx]")
PERSONAL_DATA_KINDS = ("resident_id", "bank_card", "mobile")


def _compact(text: str) -> str:
    return _DIGITS.sub("", text).upper()


def _visible(text: str) -> str:
    """Without format characters (category Cf), which render as nothing and are the
    cheapest way to break a number apart."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def find_personal_data(text: str) -> dict[str, list[list[int]]]:
    """Kind -> spans (in the NFKC text without format characters) of the resident ID numbers
    (``stdnum.cn.ric``: region, birth date, check digit), bank card numbers (16 to 19 digits
    passing Luhn) and mainland mobile numbers in ``text``. A span is claimed by the first kind
    that fits, in that order."""
    text = unicodedata.normalize("NFKC", text)
    if sum(ch.isdigit() for ch in text) < 11:  # the common case: nothing to look at
        return {}
    text = _visible(text)
    taken: list[tuple[int, int]] = []
    found: dict[str, list[list[int]]] = {}

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    for label, pattern, valid in (
            ("resident_id", _RESIDENT_ID, ric.is_valid),
            ("bank_card", _CARD, luhn.is_valid),
            ("mobile", _MOBILE, lambda _: True)):
        for m in pattern.finditer(text):
            if free(m.start(), m.end()) and valid(_compact(m.group())):
                taken.append((m.start(), m.end()))
                found.setdefault(label, []).append([m.start(), m.end()])
    return found


def contains_personal_data(text: str) -> list[str]:
    """The kinds of personal data in ``text`` ("resident_id", "bank_card", "mobile"), by the
    same detection as ``PersonalDataDetector``; empty when there is none. For refusing free
    text (an officer's reason, say) that would carry personal data into a record."""
    found = find_personal_data(text)
    return [kind for kind in PERSONAL_DATA_KINDS if kind in found]


@dataclass
class PersonalDataDetector:
    """Personal data posted into a group: resident ID numbers (checked with
    ``stdnum.cn.ric``: region, birth date, check digit), mainland mobile numbers, and bank
    card numbers (16 to 19 digits passing Luhn), through ``find_personal_data``. Evidence:
    spans and lengths only."""

    name: str = "personal_data"
    stage: Stage = "pre"
    uses_database: bool = False
    labels: frozenset[str] = frozenset(PERSONAL_DATA_KINDS)

    def screen(self, uow: UnitOfWork, context: ScreeningContext,
               resources: PackResources) -> list[Signal]:
        return [Signal(self.name, label, 1.0, len(spans),
                       {"spans": spans[:20], "lengths": [b - a for a, b in spans[:20]]})
                for label, spans in find_personal_data(context.text).items()]


@dataclass
class FloodDetector:
    """Messages per member per minute in one group, counted by messaging (this message
    included). Label ``rate``; count: the messages in the window."""

    name: str = "flood"
    stage: Stage = "pre"
    uses_database: bool = False
    labels: frozenset[str] = frozenset({"rate"})

    def screen(self, uow: UnitOfWork, context: ScreeningContext,
               resources: PackResources) -> list[Signal]:
        count = context.recent_messages + 1
        return [Signal(self.name, "rate", float(count), count,
                       {"window_seconds": FLOOD_WINDOW_SECONDS})]


_SHORTENERS = frozenset({"t.cn", "url.cn", "dwz.cn", "suo.im", "bit.ly", "tinyurl.com", "is.gd",
                         "goo.gl", "t.co", "ow.ly", "u.nu", "w.url.cn", "mrw.so", "sohu.gg",
                         "m6z.cn", "tb.cn", "c.tb.cn"})
_LINK = re.compile(r"(?:https?://|www\.)([a-z0-9\-]+(?:\.[a-z0-9\-]+)+)"
                   r"|(?<![a-z0-9@.\-])((?:[a-z0-9\-]+\.)+(?:com|cn|net|org|cc|top|xyz|vip|"
                   r"info|io|me|ly|gd|co|im|so|gg|ink|club|shop|site|work|link|app))"
                   r"(?=[/:?#]|[^a-z0-9.\-]|$)", re.I)


@dataclass
class LinkDetector:
    """Links: ``url`` (any link), ``short_link`` (a URL shortener hides where it goes) and
    ``first_message_link`` (a link in the sender's first message in the group, the usual
    shape of spam from an account that just joined). Evidence: the hosts."""

    name: str = "links"
    stage: Stage = "pre"
    uses_database: bool = False
    labels: frozenset[str] = frozenset({"url", "short_link", "first_message_link"})

    def screen(self, uow: UnitOfWork, context: ScreeningContext,
               resources: PackResources) -> list[Signal]:
        text = unicodedata.normalize("NFKC", context.text)
        if "." not in text:
            return []
        hosts = Counter((m.group(1) or m.group(2)).lower().removeprefix("www.")
                        for m in _LINK.finditer(text))
        if not hosts:
            return []
        n = sum(hosts.values())
        evidence = {"hosts": sorted(hosts)[:20]}
        out = [Signal(self.name, "url", 1.0, n, evidence)]
        short = sum(c for h, c in hosts.items() if h in _SHORTENERS)
        if short:
            out.append(Signal(self.name, "short_link", 1.0, short, evidence))
        if context.first_in_group:
            out.append(Signal(self.name, "first_message_link", 1.0, n, evidence))
        return out


BUILTINS = (LexiconDetector(), RegexDetector(), PersonalDataDetector(), FloodDetector(),
            LinkDetector())


def register_builtins() -> None:
    """Idempotent: a second import (a test reloading the package) registers nothing twice."""
    for d in BUILTINS:
        if detector(d.name) is None:
            register_detector(d)
