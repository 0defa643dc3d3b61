"""Verdicts and the detector registry, without a database."""

from __future__ import annotations

from typing import Any

import pytest

from qunguan import screening
from qunguan.screening import ALLOW, Finding, Reason, Verdict, VerdictKind
from tests.screening.conftest import AddDetector, FakeDetector


def finding(kind: VerdictKind, rule: str, **data: Any) -> Finding:
    return Finding(kind, Reason(rule, "test", f"{rule}中文", f"{rule} en", data))


def test_combine_nothing_is_allow() -> None:
    assert Verdict.combine([]) is ALLOW
    assert ALLOW.kind == VerdictKind.ALLOW
    assert ALLOW.public_reasons() == []


@pytest.mark.parametrize("kind", list(VerdictKind))
def test_combine_one(kind: VerdictKind) -> None:
    v = Verdict.combine([finding(kind, "r")])
    assert v.kind == kind
    assert [r.rule for r in v.reasons] == ["r"]


@pytest.mark.parametrize(("kinds", "expected"), [
    ([VerdictKind.LABEL, VerdictKind.CONFIRM], VerdictKind.CONFIRM),
    ([VerdictKind.CONFIRM, VerdictKind.LABEL], VerdictKind.CONFIRM),
    ([VerdictKind.HOLD, VerdictKind.LABEL, VerdictKind.CONFIRM], VerdictKind.HOLD),
    ([VerdictKind.LABEL, VerdictKind.BLOCK, VerdictKind.HOLD], VerdictKind.BLOCK),
    ([VerdictKind.ALLOW, VerdictKind.LABEL], VerdictKind.LABEL),
    ([VerdictKind.ALLOW, VerdictKind.ALLOW], VerdictKind.ALLOW),
])
def test_combine_strictest_wins_keeping_every_reason(kinds: list[VerdictKind],
                                                     expected: VerdictKind) -> None:
    v = Verdict.combine([finding(k, f"r{i}") for i, k in enumerate(kinds)])
    assert v.kind == expected
    assert [r.rule for r in v.reasons] == [f"r{i}" for i in range(len(kinds))]


def test_order_lenient_to_strict() -> None:
    assert [k.label for k in sorted(VerdictKind)] == ["allow", "label", "confirm", "hold",
                                                      "block"]


def test_public_reasons() -> None:
    v = Verdict.combine([finding(VerdictKind.LABEL, "plain"),
                         finding(VerdictKind.LABEL, "with_data", card=7)])
    assert v.public_reasons() == [
        {"rule": "plain", "detector": "test", "text_zh": "plain中文", "text_en": "plain en"},
        {"rule": "with_data", "detector": "test", "text_zh": "with_data中文",
         "text_en": "with_data en", "data": {"card": 7}},
    ]


def test_register_twice_is_refused(add_detector: AddDetector) -> None:
    add_detector("once", VerdictKind.LABEL, "x")
    with pytest.raises(ValueError, match="registered twice"):
        screening.register_detector(FakeDetector("once", VerdictKind.BLOCK, "y"))
    [d] = [d for d in screening.detectors() if d.name == "once"]
    assert d.kind == VerdictKind.LABEL  # type: ignore[attr-defined]


def test_detectors_by_stage_and_unregister(add_detector: AddDetector) -> None:
    add_detector("a", VerdictKind.LABEL, "x")
    add_detector("b", VerdictKind.LABEL, "x", stage="post")
    assert "a" in {d.name for d in screening.detectors("pre")}
    assert "a" not in {d.name for d in screening.detectors("post")}
    assert "b" in {d.name for d in screening.detectors("post")}
    assert {"a", "b"} <= {d.name for d in screening.detectors()}
    screening.unregister_detector("a")
    screening.unregister_detector("a")  # unknown names are fine
    assert "a" not in {d.name for d in screening.detectors()}


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stage"):
        screening.register_detector(FakeDetector("typo", VerdictKind.BLOCK, "x",
                                                 stage="pre-send"))  # type: ignore[arg-type]
    assert "typo" not in {d.name for d in screening.detectors()}
