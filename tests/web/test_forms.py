"""The form field macro writes attributes a browser reads as such: every optional attribute
apart from the next, so an invalid required field is both ``required`` and
``aria-invalid="true"`` (the template's trim_blocks once ran them into one name)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from qunguan.web.render import environment


class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("input", "textarea"):
            found = dict(attrs)
            self.controls[str(found["id"])] = found


def controls(call: str, **context: Any) -> dict[str, dict[str, str | None]]:
    template = environment.from_string(
        '{% import "components/forms.html" as forms %}' + call)
    parser = _Controls()
    parser.feed(template.render(_=lambda s, **kw: s, **context))
    return parser.controls


@pytest.mark.parametrize("kind", ["text", "textarea"])
def test_an_invalid_required_field_is_both(kind: str) -> None:
    [field] = controls('{{ forms.field("amount", "Amount", errors, value="0", type=kind, '
                       'maxlength=10, autocomplete="off", inputmode="numeric") }}',
                       errors={"amount": ["Too small."]}, kind=kind).values()
    assert "required" in field
    assert field["aria-invalid"] == "true"
    assert field["maxlength"] == "10"
    assert field["aria-describedby"] == "f-amount-error"
    assert not any(name.startswith("required") and name != "required" for name in field)


def test_a_valid_optional_field_has_neither() -> None:
    field = controls('{{ forms.field("note", "Note", None, required=False, '
                     'hint="Optional.") }}')["f-note"]
    assert "required" not in field
    assert "aria-invalid" not in field
    assert field["aria-describedby"] == "f-note-hint f-note-error"
