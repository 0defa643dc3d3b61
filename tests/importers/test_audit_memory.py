"""Issue 8: the archive audit's memory must not grow with the number of messages. What it
keeps per message is spilled to a temporary SQLite database (``importers.spill``), at most two
chunks per worker are in flight, and the report is written piece by piece."""

from __future__ import annotations

import io
import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qunguan.importers import audit
from qunguan.importers.audit import AuditOptions, Run, run_audit
from qunguan.importers.elections import EnvelopeRecord
from qunguan.importers.events import ArchiveEvent
from qunguan.importers.screener import Item, Outcome
from qunguan.importers.spill import Spill
from qunguan.rumors.cascades import Message

T0 = datetime(2024, 6, 1, tzinfo=UTC)
HIT = {"rule": "test.rule", "action": "label", "severity": 1, "mode": "enforce",
       "stage": "pre", "detectors": "alarm", "reason_en": "test", "signals": []}


def test_at_most_two_chunks_per_worker_are_in_flight() -> None:
    produced = 0

    def chunks() -> Any:
        nonlocal produced
        for i in range(12):
            produced += 1
            yield [], [Item(0, f"消息 {i}", False, 0, False)]

    ahead = []
    consumed = 0
    options = AuditOptions(files=[], out=Path("unused"))
    for _, _, screened in audit._screened(chunks(), options, workers=2):
        consumed += 1
        assert screened == 1
        ahead.append(produced - consumed)
    assert consumed == 12
    # The reader is never more than two chunks per worker ahead of the results taken.
    assert max(ahead) == 2 * 2


def _events(start: int, n: int) -> list[ArchiveEvent]:
    out = []
    for i in range(start, start + n):
        ts = T0 + timedelta(seconds=i)
        if i % 10 == 3:
            out.append(ArchiveEvent("red_envelope", f"e{i}", ts, "g", "jsonl", sender=f"s{i % 5}",
                                    amount_fen=100 * i, parts=5))
        elif i % 10 == 7:
            out.append(ArchiveEvent("recall", f"r{i}", ts, "g", "jsonl", sender=f"s{i % 5}",
                                    recalled_id=f"m{i - 1}"))
        else:
            out.append(ArchiveEvent("message", f"m{i}", ts, "g", "jsonl", sender=f"s{i % 5}",
                                    text=f"谣言的第 {i} 个副本，说的是同一件事情"))
    return out


def _feed(run: Run, start: int, n: int) -> None:
    for at in range(start, start + n, 500):
        events = _events(at, 500)
        outcomes = {k: Outcome(k, [dict(HIT)], ("d1", 0.9))
                    for k, e in enumerate(events) if e.kind == "message"}
        run.take(events, outcomes, len(outcomes))


def test_the_tally_does_not_grow_with_the_messages_of_a_group(tmp_path: Path) -> None:
    """Every message flagged and a rumour copy, every tenth an envelope or a recall: what the
    main process holds in Python objects stays the same from 2,000 to 22,000 messages (the
    lists it used to keep grew by several megabytes here)."""
    findings = io.StringIO()
    with Spill() as spill:
        run = Run(AuditOptions(files=[], out=tmp_path), findings, None, spill)
        tracemalloc.start()
        try:
            _feed(run, 0, 2_000)
            findings.seek(0)
            findings.truncate()
            before = tracemalloc.get_traced_memory()[0]
            _feed(run, 2_000, 20_000)
            findings.seek(0)
            findings.truncate()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert grown < 300_000, grown
        run.tally.seen_senders.add(audit.pair_digest("g", "s1"))
        run.finish()
        t = run.tally
        # What only the stream needs is let go before clustering.
        assert (t.seen_senders, t.flood, t.before, t.waiting) == (set(), {}, {}, {})
        assert (t.events, t.rumour_copies, t.envelopes) == (22_000, 17_600, 2_200)
        assert t.groups["g"].shown == audit.EXAMPLES_PER_GROUP
        examples = list(spill.examples("g"))
        assert [e["id"] for e in examples[:3]] == ["m0", "m1", "m2"]
        assert len(examples) == audit.EXAMPLES_PER_GROUP
        # Context on both sides, read back as it was written; recalls found by id.
        assert [c["id"] for c in examples[2]["before"]] == ["m0", "m1"]
        assert [c["id"] for c in examples[2]["after"]] == ["e3", "m4"]
        assert [e["id"] for e in examples if e["recalled"]] == ["m6", "m16", "m26", "m36",
                                                                 "m46", "m56"]
        assert sum(1 for _ in spill.copies()) == 17_600
        assert len(spill.envelopes({"g": 5})) == 2_200


def test_examples_short_of_context_at_the_end_are_kept(tmp_path: Path) -> None:
    with Spill() as spill:
        run = Run(AuditOptions(files=[], out=tmp_path), io.StringIO(), None, spill)
        events = _events(0, 2)
        run.take(events, {0: Outcome(0, [dict(HIT)]), 1: Outcome(1, [dict(HIT)])}, 2)
        run.finish()
        [first, second] = spill.examples("g")
        assert [c["id"] for c in first["after"]] == ["m1"]
        assert second["after"] == []


def test_spilled_envelopes_read_back_in_time_order() -> None:
    records = [EnvelopeRecord("b", "red_envelope", "g", "P-1", T0 + timedelta(minutes=2), 100, 2),
               EnvelopeRecord("c", "transfer", "g", "P-2", T0, None, None),
               EnvelopeRecord("a", "red_envelope", "h", "P-1", T0 + timedelta(minutes=2), None, 3)]
    with Spill() as spill:
        for r in records:
            spill.add_envelope(r)
        seq = spill.envelopes({"g": 7, "h": 2})
        assert len(seq) == 3
        assert [r.id for r in seq] == ["c", "a", "b"]  # time, then id
        assert seq[0] == EnvelopeRecord("c", "transfer", "g", "P-2", T0, None, None, 7)
        assert seq[-1].group_members == 7
        assert seq[1].group_members == 2
        assert [r.id for r in seq[1:]] == ["a", "b"]
        assert seq[2].ts == T0 + timedelta(minutes=2)
        assert seq[2].ts.tzinfo is not None
        with pytest.raises(IndexError):
            seq[3]
        # More envelopes after a read are sorted in on the next one.
        spill.add_envelope(EnvelopeRecord("d", "red_envelope", "g", "P-3",
                                          T0 - timedelta(days=1), 5, 1))
        assert [r.id for r in spill.envelopes({})] == ["d", "c", "a", "b"]


def test_spilled_copies_keep_their_order_and_the_last_match_of_an_id() -> None:
    with Spill() as spill:
        spill.add_copy(Message("x", "文本一", T0 + timedelta(hours=1), "g", "P-1", None), "d1")
        spill.add_copy(Message("y", "文本二", T0, "g", "", None), "d2")
        spill.add_copy(Message("x", "文本一", T0 + timedelta(hours=2), "h", "P-2", None), "d3")
        got = list(spill.copies())
    assert [(m.id, m.group, d) for m, d in got] == [("x", "g", "d3"), ("y", "g", "d2"),
                                                    ("x", "h", "d3")]
    assert got[1][0] == Message("y", "文本二", T0, "g", "", None)


def test_a_flagged_message_recalled_later_is_marked_in_the_report(tmp_path: Path) -> None:
    lines = [{"v": 1, "kind": "message", "id": f"m{i}", "ts": (T0 + timedelta(minutes=i))
              .isoformat(), "group": "g1", "source": "jsonl", "sender": f"u{i % 3}",
              "text": "我的电话是13812345678" if i == 5 else f"普通消息 {i}"} for i in range(40)]
    lines.append({"v": 1, "kind": "recall", "id": "r1", "ts": (T0 + timedelta(hours=2))
                  .isoformat(), "group": "g1", "source": "jsonl", "sender": "u2",
                  "recalled_id": "m5"})
    archive = tmp_path / "a.jsonl"
    archive.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                       encoding="utf-8")
    summary = run_audit(AuditOptions(files=[archive], out=tmp_path / "out", workers=1))
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert summary.tally.groups["g1"].shown == 1
    assert '<span class="tag">recalled</span>' in html
    row = html[html.index('<tr class="flag">'):]
    assert "普通消息 6" in row
    assert "普通消息 4" in html
    assert "13812345678" not in html
