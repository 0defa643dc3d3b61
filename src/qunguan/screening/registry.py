"""The detector registry: the one interface every detector implements.

A detector looks at a ``ScreeningContext`` and reports ``Signal``s: what it saw, never a
verdict. The active policy pack's rules turn signals into findings (``engine.py``). A
detector declares its stage: ``pre`` detectors run inside the gate before a message is written
and must fit its latency budget; ``post`` detectors run from the outbox after commit. The
built-ins (``detectors.py``) register through ``register_detector`` as a third party would.

Optional attributes a detector may set: ``labels`` (a frozenset of the labels it can report,
so ``qunguan policy check`` can refuse a rule naming one it never reports) and
``uses_database`` (False for a pure function of the text, which then runs without a
savepoint).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from qunguan.kernel.text import normalise
from qunguan.kernel.uow import UnitOfWork
from qunguan.screening.lexicon import Matcher
from qunguan.screening.verdicts import Signal, Stage

FLOOD_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class ScreeningContext:
    """What a detector may look at. ``action`` is 'post', 'forward' or 'edit'.

    ``recent_messages`` (the sender's messages in this group within the last
    ``FLOOD_WINDOW_SECONDS``, this one not counted) and ``first_in_group`` are supplied by
    messaging, which screening may not query; after sending, ``message_id`` names the message.
    """

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
    recent_messages: int = 0
    first_in_group: bool = False
    message_id: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @cached_property
    def normalised(self) -> str:
        """``kernel.text.normalise`` of the text, computed once for every detector."""
        return normalise(self.text)


@dataclass(frozen=True)
class PackResources:
    """What the active pack gives detectors: its lexicons (one automaton over every term and
    exception, ``lexicons_of[i]`` the lexicons whose term is i, ``exceptions_of[i]`` those
    whose exception is i) and the regular expressions of its rules."""

    matcher: Matcher | None = None
    lexicons_of: tuple[frozenset[str], ...] = ()
    exceptions_of: tuple[frozenset[str], ...] = ()
    patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()


NO_RESOURCES = PackResources()


class Detector(Protocol):
    name: str
    stage: Stage

    def screen(self, uow: UnitOfWork, context: ScreeningContext,
               resources: PackResources) -> list[Signal]: ...


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


def detector(name: str) -> Detector | None:
    return _DETECTORS.get(name)


def known_labels(detector: Detector) -> frozenset[str] | None:
    labels = getattr(detector, "labels", None)
    return frozenset(labels) if labels is not None else None


def uses_database(detector: Detector) -> bool:
    return bool(getattr(detector, "uses_database", True))
