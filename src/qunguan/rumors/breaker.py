"""The circuit breaker's rule, pure so that the server and the offline replay
(``qunguan eval cascades``) run the same code: a content cluster trips when it reaches
``groups`` distinct groups within any window of ``minutes`` minutes.

Only a cluster's *first* arrival in each group counts: a hundred forwards inside one group
spread nothing further, while twenty groups reached in an hour is how a rumour outruns the
people who could check it (issue 4 part 8).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class BreakerRule:
    groups: int = 20
    minutes: int = 60
    max_targets: int = 1

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.minutes)


def first_arrivals(arrivals: Iterable[tuple[object, datetime]]) -> list[datetime]:
    """The time each group was first reached, sorted, from (group, time) pairs in any order."""
    first: dict[object, datetime] = {}
    for group, at in arrivals:
        if group not in first or at < first[group]:
            first[group] = at
    return sorted(first.values())


def trips_at(firsts: Sequence[datetime], rule: BreakerRule) -> datetime | None:
    """When the breaker trips, given the sorted first-arrival times of a cluster's groups: the
    arrival that makes ``rule.groups`` groups within ``rule.minutes`` (both ends included), or
    None if no window holds that many."""
    need = rule.groups
    for i in range(need - 1, len(firsts)):
        if firsts[i] - firsts[i - need + 1] <= rule.window:
            return firsts[i]
    return None

