"""Verdicts of the screening gate, ordered from lenient to strict, and the hits behind them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

Stage = Literal["pre", "post"]
Mode = Literal["enforce", "shadow", "off"]


class VerdictKind(enum.IntEnum):
    """The strictest kind among the enforced findings wins."""

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
    """Why a rule fired: the pack's rule id, the detector(s) behind it, and texts for the
    user in both languages."""

    rule: str
    detector: str
    text_zh: str
    text_en: str
    data: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"rule": self.rule, "detector": self.detector, "text_zh": self.text_zh,
                "text_en": self.text_en, **({"data": self.data} if self.data else {})}


@dataclass(frozen=True)
class Signal:
    """What a detector observed. ``label`` names the kind of thing (``resident_id``, a
    lexicon's name, ``rate``); ``evidence`` says where or how much, never the personal data
    itself (spans and lengths, matched lexicon terms, hosts of links)."""

    detector: str
    label: str
    score: float = 1.0
    count: int = 1
    evidence: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"detector": self.detector, "label": self.label, "score": self.score,
                "count": self.count, "evidence": self.evidence}


@dataclass(frozen=True)
class Hit:
    """A rule of the active pack fired on a text: recorded whatever its mode."""

    rule: str
    mode: Mode
    action: VerdictKind
    severity: int
    stage: Stage
    pack_version: int
    reason: Reason
    signals: tuple[Signal, ...] = ()

    @property
    def detectors(self) -> str:
        return ",".join(dict.fromkeys(s.detector for s in self.signals)) or self.reason.detector


@dataclass(frozen=True)
class Finding:
    kind: VerdictKind
    reason: Reason


@dataclass(frozen=True)
class Verdict:
    """``kind`` and ``reasons`` come from enforced rules only; ``hits`` holds every rule that
    fired (shadow ones included), for the record written with the message."""

    kind: VerdictKind
    reasons: tuple[Reason, ...] = ()
    hits: tuple[Hit, ...] = field(default=(), compare=False)

    @classmethod
    def combine(cls, findings: list[Finding], hits: tuple[Hit, ...] = ()) -> Verdict:
        if not findings:
            return cls(VerdictKind.ALLOW, (), hits) if hits else ALLOW
        kind = max(f.kind for f in findings)
        return cls(kind, tuple(f.reason for f in findings), hits)

    @classmethod
    def of(cls, hits: list[Hit]) -> Verdict:
        """Strictest enforced verdict wins; shadow hits are kept but change nothing."""
        # An enforced "allow" rule is recorded but labels nothing.
        return cls.combine([Finding(h.action, h.reason) for h in hits
                            if h.mode == "enforce" and h.action > VerdictKind.ALLOW], tuple(hits))

    def public_reasons(self) -> list[dict[str, Any]]:
        return [r.public() for r in self.reasons]


ALLOW = Verdict(VerdictKind.ALLOW)
