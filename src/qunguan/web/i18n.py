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
# The officer console's strings live in their own catalogue (officer.po), consulted when the
# members' catalogue lacks a string, so the two are kept and extracted separately.
DOMAINS = (DOMAIN, "officer")
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGES: dict[str, str] = {"zh_CN": "中文", "en": "English"}
# The value for the <html lang> attribute.
HTML_LANG = {"zh_CN": "zh-Hans", "en": "en"}


def N_(message: str) -> str:
    """Mark a string for extraction; translated later, where the language is known."""
    return message


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    first, *others = (gettext.translation(domain, localedir=LOCALE_DIR, languages=[language],
                                          fallback=True) for domain in DOMAINS)
    for other in others:
        first.add_fallback(other)
    return first


def choose_language(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


Gettext = Callable[..., str]


def gettext_for(language: str) -> Gettext:
    """``_("Hello %(name)s", name=…)``: translated, then formatted with the keywords."""
    catalogue = translations(language)

    def _(message: str, **values: Any) -> str:
        text = catalogue.gettext(message)
        return text % values if values else text

    return _
