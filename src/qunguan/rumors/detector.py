"""The rumour detectors of the screening registry. Like every detector they only report: the
active policy pack decides (the default pack's rules are in
``screening/packs/default/rules/rumors.toml``).

``debunk`` (pre-send, in the gate) reports ``auto`` when a message repeats a debunked claim at
or above the auto-label threshold and ``suggest`` between the suggestion and label thresholds;
the signal's evidence carries the debunk id, the score and the card, which the engine shows
with the rule's reason. ``debunk_review`` (post-send, from the outbox) reports ``suggest``
only: a pair between the thresholds is for a reviewer, and a post-send rule can flag a
delivered message for review without holding it.
"""

from __future__ import annotations

from dataclasses import dataclass

from qunguan.kernel.uow import UnitOfWork
from qunguan.rumors.alarm import AlarmDetector
from qunguan.rumors.bank import live_bank
from qunguan.screening import PackResources, ScreeningContext, Signal, Stage, register_detector


@dataclass
class DebunkDetector:
    name: str = "debunk"
    stage: Stage = "pre"
    labels: frozenset[str] = frozenset({"auto", "suggest"})
    uses_database: bool = True  # refreshes the bank from the database when due

    def screen(self, uow: UnitOfWork, context: ScreeningContext,
               resources: PackResources) -> list[Signal]:
        live = live_bank(uow)
        if not len(live):
            return []
        found = live.best(context.text)
        if found is None:
            return []
        label = "auto" if found.score >= live.thresholds.label else "suggest"
        if label not in self.labels:
            return []
        return [Signal(self.name, label, found.score, 1,
                       {"debunk_id": found.debunk_id, "score": found.score,
                        "card": found.card})]


REVIEW_DETECTOR = "debunk_review"  # after sending: suggestions for the review queue
# Every screening detector of this package: what a hold "for a rumour" means.
DETECTOR_NAMES = frozenset({DebunkDetector.name, REVIEW_DETECTOR, AlarmDetector.name})


def register() -> None:
    register_detector(DebunkDetector())
    register_detector(DebunkDetector(name=REVIEW_DETECTOR, stage="post",
                                     labels=frozenset({"suggest"})))
