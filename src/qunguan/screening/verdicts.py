"""Verdicts of the screening gate, ordered from lenient to strict."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class VerdictKind(enum.IntEnum):
    """The strictest kind among the findings wins."""

    ALLOW = 0
    LABEL = 1  # deliver with a label (e.g. a debunk card)
    CONFIRM = 2  # friction: the sender must acknowledge before it is sent
    HOLD = 3  # keep for human review before delivery
    BLOCK = 4  # refuse

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Reason:
    """Why a detector fired: a stable rule id and texts for the user in both languages."""

    rule: str
    detector: str
    text_zh: str
    text_en: str
    data: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"rule": self.rule, "detector": self.detector, "text_zh": self.text_zh,
                "text_en": self.text_en, **({"data": self.data} if self.data else {})}


@dataclass(frozen=True)
class Finding:
    kind: VerdictKind
    reason: Reason


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    reasons: tuple[Reason, ...] = ()

    @classmethod
    def combine(cls, findings: list[Finding]) -> Verdict:
        if not findings:
            return ALLOW
        kind = max(f.kind for f in findings)
        return cls(kind, tuple(f.reason for f in findings))

    def public_reasons(self) -> list[dict[str, Any]]:
        return [r.public() for r in self.reasons]


ALLOW = Verdict(VerdictKind.ALLOW)
