"""The detector registry and the pre-send gate.

A detector declares its stage: ``pre`` detectors run inside ``gate()`` before a message is
written and must fit the gate's latency budget; ``post`` detectors run from the outbox after
commit (the policy engine of a later issue wires those up). The built-in set is empty in this
release: the gate allows everything until detectors register, and messaging never changes
when they do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal, Protocol

from qunguan.kernel.uow import UnitOfWork
from qunguan.screening.verdicts import ALLOW, Finding, Reason, Verdict, VerdictKind

log = logging.getLogger(__name__)

Stage = Literal["pre", "post"]


@dataclass(frozen=True)
class ScreeningContext:
    """What a detector may look at. ``action`` is 'post', 'forward' or 'edit'."""

    action: str
    account_id: int
    account_verified: bool
    group_id: int
    group_category: str
    group_tier: int
    text: str
    fingerprint: str
    origin_message_id: int | None = None
    hop: int = 0
    extra: dict[str, object] = field(default_factory=dict)


class Detector(Protocol):
    name: str
    stage: Stage

    def screen(self, uow: UnitOfWork, context: ScreeningContext) -> list[Finding]: ...


_DETECTORS: dict[str, Detector] = {}


STAGES: tuple[Stage, ...] = ("pre", "post")


def register_detector(detector: Detector) -> None:
    if detector.name in _DETECTORS:
        raise ValueError(f"detector {detector.name!r} registered twice")
    if detector.stage not in STAGES:  # a typo would otherwise leave it silently never run
        raise ValueError(f"detector {detector.name!r} has unknown stage {detector.stage!r}")
    _DETECTORS[detector.name] = detector


def unregister_detector(name: str) -> None:
    _DETECTORS.pop(name, None)


def detectors(stage: Stage | None = None) -> list[Detector]:
    return [d for d in _DETECTORS.values() if stage is None or d.stage == stage]


def gate(uow: UnitOfWork, context: ScreeningContext) -> Verdict:
    """Run every pre-send detector; the strictest finding decides."""
    pre = detectors("pre")
    if not pre:
        return ALLOW
    findings: list[Finding] = []
    for detector in pre:
        try:
            # A savepoint, so a detector whose SQL failed cannot leave the transaction
            # aborted for the message insert that follows.
            with uow.savepoint():
                findings.extend(detector.screen(uow, context))
        except Exception:
            # A broken detector must neither crash the request nor pass silently: it is
            # logged, and with QUNGUAN_SCREENING_FAIL_CLOSED the message is held for review.
            log.exception("screening detector %s failed", detector.name)
            if uow.settings.screening_fail_closed:
                findings.append(Finding(VerdictKind.HOLD, Reason(
                    rule="detector_error", detector=detector.name,
                    text_zh="自动审核暂不可用，消息将在人工审核后送达。",
                    text_en="Automatic screening is unavailable; the message will be delivered "
                    "after human review.")))
    return Verdict.combine(findings)
