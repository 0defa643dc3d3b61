"""The web pages' catalogues: compiled files current, every string translated, no text in a
template that bypasses them."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from qunguan.web.i18n import DOMAINS, LANGUAGES, LOCALE_DIR, OFFICER, gettext_for
from qunguan.web.render import TEMPLATES
from tests.conftest import Cast
from tests.web.conftest import Web

WEB = TEMPLATES.parent
KEYWORDS = {"_": None, "N_": None}


# Each domain's sources, as babel.cfg and babel-officer.cfg map them for `make messages`.
METHODS = {
    "messages": [("officer/**.py", "ignore"), ("templates/officer/**.html", "ignore"),
                 ("**.py", "python"), ("templates/**.html", "jinja2")],
    "officer": [("officer/**.py", "python"), ("templates/officer/**.html", "jinja2")],
}
CATALOGUES = [(lang, domain) for lang in sorted(LANGUAGES) for domain in DOMAINS]


def extracted(domain: str = "messages") -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(WEB), method_map=METHODS[domain],
                                                keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def catalogue(lang: str, domain: str = "messages"):  # type: ignore[no-untyped-def]
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
        return read_po(fh, locale=lang)


@pytest.mark.parametrize(("lang", "domain"), CATALOGUES)
def test_compiled_catalogue_is_current(lang: str, domain: str) -> None:
    """The committed .mo is what `make messages` compiles from the committed .po."""
    buffer = io.BytesIO()
    write_mo(buffer, catalogue(lang, domain))
    committed = (LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.mo").read_bytes()
    assert buffer.getvalue() == committed, f"run `make messages`: {lang} .mo is stale"


@pytest.mark.parametrize(("lang", "domain"), CATALOGUES)
def test_every_string_is_in_the_catalogue(lang: str, domain: str) -> None:
    ids = {m.id for m in catalogue(lang, domain) if m.id}
    missing = sorted(extracted(domain) - ids)
    assert not missing, f"run `make messages` and translate: {missing}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_string_has_a_chinese_translation(domain: str) -> None:
    untranslated = sorted(m.id for m in catalogue("zh_CN", domain) if m.id and not m.string)
    assert not untranslated


@pytest.mark.parametrize("domain", DOMAINS)
def test_placeholders_survive_translation(domain: str) -> None:
    names = re.compile(r"%\((\w+)\)s")
    for m in catalogue("zh_CN", domain):
        if m.id and m.string:
            assert set(names.findall(m.id)) == set(names.findall(m.string)), m.id


def test_gettext_translates_and_formats() -> None:
    assert gettext_for("zh_CN")("Log in") == "登录"
    assert gettext_for("en")("Log in") == "Log in"
    assert gettext_for("zh_CN")("%(n)s unread", n=3) == "3 条未读"
    assert gettext_for("fr")("Log in") == "登录"  # unknown languages get the default
    # The officer console's catalogue is chained behind the members' one.
    assert gettext_for("zh_CN")("Review queue") == "审核队列"
    assert gettext_for("en")("Review queue") == "Review queue"
    # A word both catalogues hold reads as each side means it: members open a red envelope,
    # officers see an item's status.
    assert gettext_for("zh_CN")("Open") == "领取"
    assert gettext_for("zh_CN", OFFICER)("Open") == "待处理"
    assert gettext_for("zh_CN", OFFICER)("Log in") == "登录"  # the members' one behind


def test_console_pages_read_the_console_catalogue_first(web: Web, cast: Cast) -> None:
    queue = web.as_(cast.officer).get("/officer/review").text
    assert '<option value="open" selected>待处理</option>' in queue
    assert "领取" not in queue


JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
TAG = re.compile(r"<[^>]*>", re.S)
ENTITY = re.compile(r"&\w+;|&#\d+;")
# Text a template may show without a catalogue: punctuation, symbols, digits.
ALLOWED = re.compile(r"^[\s\W\d_@#·:：/|()（）]*$")


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_bare_text(path: Path) -> None:
    """Every word a visitor reads goes through _(): strip Jinja and tags, nothing is left."""
    source = JINJA.sub(" ", path.read_text())
    source = re.sub(r"<script.*?</script>", " ", source, flags=re.S)
    text = ENTITY.sub(" ", TAG.sub(" ", source))
    bare = [line.strip() for line in text.splitlines() if not ALLOWED.match(line)]
    assert not bare, f"{path.name}: wrap in _(): {bare}"


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_attributes_people_read_are_translated(path: Path) -> None:
    """aria-label, title, placeholder and alt are read aloud or shown: no literal words."""
    source = path.read_text()
    for attr, value in re.findall(r'\b(aria-label|title|placeholder|alt)="([^"]*)"', source):
        assert ALLOWED.match(JINJA.sub("", value)), f"{path.name}: {attr}={value!r}"
