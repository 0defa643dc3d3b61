"""The vote-buying detector of the screening registry: at send time, before money moves.

Registered as ``votebuying`` (pre-send) the way a third party would, like ``rumors/detector``.
It reports only on ``ScreeningContext.action == "envelope"`` (``envelopes.actions`` fills
``extra`` with ``total_fen``, ``parts``, ``split``, ``recipient_id``) in a group under an
election window, and only what the envelope about to be sent would itself complete: it runs
the same ``votebuying.detect`` as the outbox over the group's envelopes plus this one, as if
it were sent now and every part claimed at once by a member the sender's recent envelopes
have not reached (the most it can reach: a send cannot know who will open it), and keeps the
patterns this envelope is part of. Those that need claims to be seen — rounds (overlap of
claimers) and collusion — stay with the outbox, after the send; the candidate pattern is the
election rule's (``actions.election_rule`` holds a candidate's envelopes already).

Like every detector it decides nothing: the active policy pack's rules do
(``screening/packs/default/rules/envelopes.toml`` holds the envelope for review).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from qunguan.envelopes import handlers, queries
from qunguan.envelopes.votebuying import Claim, EnvelopeRecord, detect
from qunguan.groups import Group
from qunguan.groups import queries as group_queries
from qunguan.kernel.uow import UnitOfWork
from qunguan.screening import PackResources, ScreeningContext, Signal, Stage, register_detector

PRE_SEND_PATTERNS = frozenset({"fanout", "splitting", "jump"})
_THIS = 0  # the envelope about to be sent has no id yet


@dataclass
class VoteBuyingDetector:
    name: str = "votebuying"
    stage: Stage = "pre"
    labels: frozenset[str] = PRE_SEND_PATTERNS
    uses_database: bool = True

    def screen(self, uow: UnitOfWork, context: ScreeningContext,
               resources: PackResources) -> list[Signal]:
        if context.action != "envelope" or not (uow.settings.votebuying_enabled
                                                  and uow.settings.votebuying_at_send):
            return []
        group = uow.session.get(Group, context.group_id)
        if group is None:
            return []
        t = handlers.thresholds(uow)
        elections = handlers.election_infos(uow, group, t.lead_days)
        if not elections:
            return []  # the cheap exit for every group without an election
        records = handlers.group_records(uow, group, t.history_days)
        this = self._as_sent(uow, context, group, records,
                             timedelta(hours=max(t.fanout_window_hours,
                                                 t.jump_window_days * 24)))
        found = detect([*records, this], elections, sender_id=context.account_id,
                       group_id=group.id, now=this.ts, thresholds=t,
                       festival_totals=queries.festival_totals(uow, context.account_id,
                                                                group.id))
        return [Signal(self.name, a.pattern, 1.0, 1, {
                    "explanation": a.explanation, "election_id": a.election_id,
                    "envelope_ids": [i for i in a.envelope_ids if i != _THIS],
                    **{k: v for k, v in a.details.items() if k in ("share", "members")}})
                for a in found if a.pattern in self.labels and _THIS in a.envelope_ids]

    @staticmethod
    def _as_sent(uow: UnitOfWork, context: ScreeningContext, group: Group,
                 records: list[EnvelopeRecord], window: timedelta) -> EnvelopeRecord:
        """This envelope as if sent now, each part claimed at once by a different member,
        first those the sender's envelopes of the window have not reached."""
        now = uow.now()
        total = _int(context.extra.get("total_fen"), 0)
        parts = max(1, _int(context.extra.get("parts"), 1))
        recipient = context.extra.get("recipient_id")
        if isinstance(recipient, int):
            claimers = [recipient]
        else:
            reached: set[int] = set()
            for r in records:
                if r.sender_id == context.account_id and r.ts > now - window:
                    reached |= r.recipients(now)
            members = [m for m in group_queries.member_ids(uow, group.id)
                       if m != context.account_id]
            claimers = sorted(members, key=lambda m: (m in reached, m))[:parts]
        record = EnvelopeRecord(_THIS, context.account_id, group.id, total, parts, now,
                                group.member_count)
        return replace(record, claims=tuple(Claim(m, total // parts, now) for m in claimers))


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def register() -> None:
    register_detector(VoteBuyingDetector())
