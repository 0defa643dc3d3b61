"""Message catalogues of the web pages (Babel/gettext).

Source strings are English; ``zh_CN`` is the default language of the pages and ``en`` can be
chosen. Catalogues live in ``web/locale/<lang>/LC_MESSAGES/messages.po``; the compiled
``messages.mo`` beside each is committed (``make messages`` extracts, updates and compiles;
``tests/web/test_i18n.py`` fails when a ``.mo`` is stale or a string lacks a translation).
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
OFFICER = "officer"
# The officer console's strings live in their own catalogue (officer.po), kept and extracted
# separately. Member pages consult the members' catalogue first and the console's after it;
# console pages the other way round, so a word both use ("Open": a red envelope to a member,
# an item's status to an officer) reads as each page means it.
DOMAINS = (DOMAIN, OFFICER)
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGES: dict[str, str] = {"zh_CN": "中文", "en": "English"}
# The value for the <html lang> attribute.
HTML_LANG = {"zh_CN": "zh-Hans", "en": "en"}


def N_(message: str) -> str:
    """Mark a string for extraction; translated later, where the language is known."""
    return message


@functools.cache
def translations(language: str, domain: str = DOMAIN) -> gettext.NullTranslations:
    """The catalogues of ``language``, ``domain`` first and the other as its fallback."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    order = (domain, *(d for d in DOMAINS if d != domain))
    first, *others = (gettext.translation(name, localedir=LOCALE_DIR, languages=[language],
                                          fallback=True) for name in order)
    for other in others:
        first.add_fallback(other)
    return first


def choose_language(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


Gettext = Callable[..., str]


def gettext_for(language: str, domain: str = DOMAIN) -> Gettext:
    """``_("Hello %(name)s", name=…)``: translated (``domain``'s catalogue first), then
    formatted with the keywords."""
    catalogue = translations(language, domain)

    def _(message: str, **values: Any) -> str:
        text = catalogue.gettext(message)
        return text % values if values else text

    return _
