"""Fake detectors, registered the way a real one would be and always unregistered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from qunguan import screening
from qunguan.kernel.uow import UnitOfWork
from qunguan.screening import Finding, Reason, ScreeningContext, VerdictKind
from qunguan.screening.registry import Stage
from tests.messaging.conftest import gid  # noqa: F401  (the fixture, shared)


@dataclass
class FakeDetector:
    """Fires ``kind`` on every text containing ``trigger``; remembers what it was shown."""

    name: str
    kind: VerdictKind
    trigger: str
    stage: Stage = "pre"
    seen: list[ScreeningContext] = field(default_factory=list)

    def screen(self, uow: UnitOfWork, context: ScreeningContext) -> list[Finding]:
        self.seen.append(context)
        if self.trigger not in context.text:
            return []
        return [Finding(self.kind, Reason(rule=f"{self.name}.rule", detector=self.name,
                                          text_zh=f"{self.name}提示", text_en=f"{self.name} says",
                                          data={"trigger": self.trigger}))]


AddDetector = Callable[..., FakeDetector]


@pytest.fixture
def add_detector() -> Iterator[AddDetector]:
    added: list[str] = []

    def add(name: str, kind: VerdictKind, trigger: str, stage: Stage = "pre") -> FakeDetector:
        detector = FakeDetector(name, kind, trigger, stage)
        screening.register_detector(detector)
        added.append(name)
        return detector

    try:
        yield add
    finally:
        for name in added:
            screening.unregister_detector(name)
        assert not {d.name for d in screening.detectors()} & set(added)
