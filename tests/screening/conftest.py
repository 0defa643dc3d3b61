"""Fake detectors and test packs, registered and loaded the way real ones are.

``add_detector`` registers a fake detector and loads a pack with one rule for it (and one for
every fake added before it in the test), so the gate runs exactly those rules; the shipped
default pack is replaced for that test. ``load_pack`` loads any pack through the action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from qunguan import screening
from qunguan.identity import queries as identity_queries
from qunguan.kernel.uow import UnitOfWork
from qunguan.screening import PackResources, ScreeningContext, Signal, VerdictKind
from qunguan.screening.actions import do_load_pack
from qunguan.screening.models import PolicyPack
from qunguan.screening.registry import Stage
from tests.messaging.conftest import gid  # noqa: F401  (the fixture, shared)

PACK_TOML = 'name = "test"\ndescription = "for tests"\n'


@dataclass
class FakeDetector:
    """Reports the signal ``hit`` on every text containing ``trigger`` (in ``only_group``
    when given); remembers what it was shown; raises when ``broken``."""

    name: str
    kind: VerdictKind
    trigger: str
    stage: Stage = "pre"
    only_group: int | None = None
    broken: bool = False
    seen: list[ScreeningContext] = field(default_factory=list)

    def screen(self, uow: UnitOfWork, context: ScreeningContext,
               resources: PackResources) -> list[Signal]:
        self.seen.append(context)
        if self.broken:
            raise RuntimeError("detector bug")
        if self.trigger not in context.text:
            return []
        if self.only_group is not None and context.group_id != self.only_group:
            return []
        return [Signal(self.name, "hit", evidence={"trigger": self.trigger})]


def rule_toml(rule_id: str, action: str, detector: str, *, severity: int = 3,
              mode: str = "enforce", extra: str = "", when: str = "") -> str:
    return (f'[[rule]]\nid = "{rule_id}"\naction = "{action}"\nseverity = {severity}\n'
            f'mode = "{mode}"\n{extra}'
            f'reason = {{ zh = "{detector}提示", en = "{detector} says" }}\n\n'
            f'[[rule.when]]\ndetector = "{detector}"\n{when}\n')


def pack_files(rules: str, lexicons: dict[str, str] | None = None) -> dict[str, str]:
    files = {"pack.toml": PACK_TOML, "rules/test.toml": rules}
    for name, text in (lexicons or {}).items():
        files[f"lexicons/{name}.txt"] = text
    return files


def load_pack(app: Any, files: dict[str, str]) -> PolicyPack:
    uow = app.state.uows()
    try:
        system = identity_queries.system_account(uow)
        row = do_load_pack(uow, files, acting=system)
        uow.commit()
        return row
    finally:
        uow.close()


AddDetector = Callable[..., FakeDetector]


@pytest.fixture
def add_detector(app: Any) -> Iterator[AddDetector]:
    added: list[FakeDetector] = []

    def add(name: str, kind: VerdictKind, trigger: str, stage: Stage = "pre",
            only_group: int | None = None, broken: bool = False) -> FakeDetector:
        detector = FakeDetector(name, kind, trigger, stage, only_group, broken)
        screening.register_detector(detector)
        added.append(detector)
        load_pack(app, pack_files("".join(rule_toml(f"{d.name}.rule", d.kind.label, d.name)
                                          for d in added)))
        return detector

    try:
        yield add
    finally:
        for d in added:
            screening.unregister_detector(d.name)
        assert not {d.name for d in screening.detectors()} & {d.name for d in added}
