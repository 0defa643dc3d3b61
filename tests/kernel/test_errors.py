"""The one error format: defined codes only, each a 4xx."""

from __future__ import annotations

import re

import pytest

import qunguan.app  # noqa: F401  (imports every capability, so every error code is defined)
from qunguan.kernel.errors import ERRORS, ErrorSpec, QunguanError, define_error


def test_undefined_code_raises_key_error() -> None:
    with pytest.raises(KeyError, match="undefined error code"):
        QunguanError("no_such_code", "message")


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_every_defined_error_is_a_documented_4xx(code: str) -> None:
    spec = ERRORS[code]
    assert spec.code == code
    assert 400 <= spec.status <= 499, f"{code} answers {spec.status}: a client error is 4xx"
    assert re.fullmatch(r"[a-z][a-z0-9_]*", code), "codes are snake_case"
    assert spec.doc.strip()


def test_error_body_and_status() -> None:
    exc = QunguanError("muted", "You are muted.", until="2026-11-24T09:00:00+00:00")
    assert exc.status == 403
    assert exc.body() == {"error": {"code": "muted", "message": "You are muted.",
                                    "details": {"until": "2026-11-24T09:00:00+00:00"}}}
    assert str(exc) == "You are muted."
    assert exc.persist is False
    assert exc.keep_writes() is exc
    assert exc.persist is True


def test_define_error_twice() -> None:
    spec = ERRORS["not_found"]
    assert define_error(spec.code, spec.status, spec.doc) == spec  # the same again: fine
    with pytest.raises(ValueError, match="defined twice"):
        define_error("not_found", 410, spec.doc)
    with pytest.raises(ValueError, match="defined twice"):
        define_error("not_found", 404, "another meaning")
    assert ERRORS["not_found"] == spec


def test_define_error_registers_a_new_code() -> None:
    try:
        spec = define_error("kernel_test_only", 418, "A code defined by this test.")
        assert spec == ErrorSpec("kernel_test_only", 418, "A code defined by this test.")
        assert QunguanError("kernel_test_only", "x").status == 418
    finally:
        ERRORS.pop("kernel_test_only", None)
