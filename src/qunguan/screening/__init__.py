"""Screening: the detector registry and the gate every message passes before it is written."""

from qunguan.screening.registry import (
    Detector,
    ScreeningContext,
    detectors,
    gate,
    register_detector,
    unregister_detector,
)
from qunguan.screening.verdicts import ALLOW, Finding, Reason, Verdict, VerdictKind

__all__ = ["ALLOW", "Detector", "Finding", "Reason", "ScreeningContext", "Verdict",
           "VerdictKind", "detectors", "gate", "register_detector", "unregister_detector"]
