"""The envelopes capability's vote-buying detectors (``qunguan.envelopes.votebuying``, the
code the server runs after every send and claim) over the red envelopes of an archive,
plugged into the audit's envelope-detector seam (``elections.register_envelope_detector``)
when that module is installed.

Archives tell less than the server knows: no export lists who claimed a packet, so the
patterns built on recipients (fan-out, rounds, collusion) find nothing here, and personal
WeChat exports carry no amounts, so their envelopes are left out (the report counts them).
What remains works as in the server: declared candidates (the ``candidates`` column of the
elections file), splitting, and a sender's jump against their own history. The detectors are
stateless; as the server does after each envelope, they are asked at every envelope inside an
election's window and once at its end, with every election covering the group, and the last
answer per pattern, sender, group and election is kept. A group covered by several elections
gets one finding for the same envelopes, as the server stores one alert: ``detect`` answers
one alert naming the other elections (``details["also_elections"]``), and an answer whose
envelopes a kept finding of the same pattern, sender and group (another election's) already
names all of is not kept (``votebuying.named_before``, as the server's ``_store`` skips it).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from qunguan.importers.elections import (
    Election,
    EnvelopeRecord,
    envelope_detectors,
    register_envelope_detector,
)
from qunguan.kernel.clock import CHINA

NAME = "votebuying"
MODULE = "qunguan.envelopes.votebuying"


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def votebuying_findings(records: Sequence[EnvelopeRecord],
                        elections: list[Election]) -> list[dict[str, Any]]:
    # Imported by name: this branch of the code base may not have the module yet.
    vb: Any = importlib.import_module(MODULE)

    if not elections:
        return []
    # Only the groups of an election are asked about: the other groups' envelopes are walked
    # (to number senders and groups as before) but not kept.
    wanted = {e.group for e in elections}
    usable: list[str] = []  # message ids of the kept records, by envelope_id
    senders: dict[str, int] = {}
    groups: dict[str, int] = {}
    by_group: dict[int, list[Any]] = {}
    index = -1
    for r in records:
        if r.kind != "red_envelope" or r.amount_fen is None:
            continue
        index += 1
        sender_id = senders.setdefault(r.sender, len(senders) + 1)
        group_id = groups.setdefault(r.group, len(groups) + 1)
        if r.group not in wanted:
            continue
        by_group.setdefault(group_id, []).append(vb.EnvelopeRecord(
            envelope_id=len(usable), sender_id=sender_id, group_id=group_id,
            amount_fen=r.amount_fen or 0, parts=r.parts or 1, ts=r.ts,
            group_member_count=r.group_members or 0))
        usable.append(r.id)
    if index < 0:
        return []
    thresholds = vb.Thresholds()
    covering: dict[int, list[Any]] = {}  # group -> its elections' infos
    for number, e in enumerate(elections, 1):
        gid = groups.get(e.group)
        if gid is None:
            continue
        covering.setdefault(gid, []).append(vb.ElectionInfo(
            id=number, name=e.name or e.group,
            starts_at=datetime.combine(e.start, time(0, 0), CHINA),
            ends_at=datetime.combine(e.end, time(23, 59, 59), CHINA),
            vote_at=datetime.combine(e.end, time(23, 59, 59), CHINA),
            group_ids=frozenset({gid}),
            candidates=frozenset(senders[c] for c in e.candidates if c in senders)))
    alerts: dict[str, Any] = {}
    for gid, infos in covering.items():
        mine = by_group[gid]
        asked: list[tuple[int, datetime]] = []
        for info in infos:
            opens = info.starts_at - timedelta(days=thresholds.lead_days)
            inside = [(r.sender_id, r.ts) for r in mine if opens <= r.ts <= info.ends_at]
            asked += inside + [(s, info.ends_at) for s in {s for s, _ in inside}]
        for sender_id, now in sorted(set(asked), key=lambda a: (a[1], a[0])):
            for alert in vb.detect(mine, infos, sender_id=sender_id, group_id=gid, now=now,
                                   thresholds=thresholds):
                if alert.key not in alerts and vb.named_before(alert, (
                        a.envelope_ids for a in alerts.values()
                        if (a.pattern, a.sender_id, a.group_id)
                        == (alert.pattern, alert.sender_id, alert.group_id))):
                    continue
                alerts[alert.key] = alert
    pseudonym = {v: k for k, v in senders.items()}
    group_of = {v: k for k, v in groups.items()}
    out = []
    for alert in sorted(alerts.values(), key=lambda a: (a.first_at, a.key)):
        out.append({
            "rule": f"votebuying.{alert.pattern}", "group": group_of[alert.group_id],
            "time": _iso(alert.first_at), "sender": pseudonym[alert.sender_id],
            "message_ids": [usable[i] for i in alert.envelope_ids],
            "evidence": {"explanation": alert.explanation,
                         "election": _name(elections, alert.election_id),
                         **({"also_elections": [_name(elections, n) for n in also]}
                            if (also := alert.details.get("also_elections")) else {}),
                         "details": json.loads(json.dumps(alert.details, default=str,
                                                          ensure_ascii=False))}})
    return out


def _name(elections: list[Election], number: int) -> str:
    """The election numbered ``number`` (its row in the elections file, from 1) by name."""
    return elections[number - 1].name or elections[number - 1].group


def register() -> None:
    """Plug the detectors in when the envelopes capability ships them; idempotent."""
    if NAME in envelope_detectors():
        return
    try:
        found = importlib.util.find_spec(MODULE) is not None
    except ModuleNotFoundError:
        found = False
    if found:
        register_envelope_detector(NAME, votebuying_findings)
