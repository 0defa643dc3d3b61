"""Screening: the policy engine. Detectors report signals; the active policy pack's rules
turn them into verdicts before a message is written (``gate``) and after (an outbox handler).
"""

from qunguan.screening import detectors as _detectors
from qunguan.screening.detectors import contains_personal_data
from qunguan.screening.engine import active_pack, evaluate, gate
from qunguan.screening.registry import (
    FLOOD_WINDOW_SECONDS,
    Detector,
    PackResources,
    ScreeningContext,
    detectors,
    register_detector,
    unregister_detector,
)
from qunguan.screening.verdicts import (
    ALLOW,
    Finding,
    Hit,
    Reason,
    Signal,
    Stage,
    Verdict,
    VerdictKind,
)

_detectors.register_builtins()

from qunguan.screening.actions import record_hits  # noqa: E402  (after the built-ins)

__all__ = ["ALLOW", "FLOOD_WINDOW_SECONDS", "Detector", "Finding", "Hit", "PackResources",
           "Reason", "ScreeningContext", "Signal", "Stage", "Verdict", "VerdictKind",
           "active_pack", "contains_personal_data", "detectors", "evaluate", "gate",
           "record_hits", "register_detector", "unregister_detector"]
