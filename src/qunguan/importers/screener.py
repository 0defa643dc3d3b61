"""The governance pipeline over one archive message, offline: the screening policy pack's
rules (the shipped default pack or ``--policy DIR``) over the signals of the registered
detectors, evaluated by screening's own ``evaluate``, with the debunk bank of ``--bank``
matched by rumours' ``Bank`` (the matcher of ``qunguan rumors match``) standing in for the
server's live bank.

A detector that needs the database (other than the two debunk detectors, answered from the
bank file) cannot run on an archive; it is skipped and named in the report.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from qunguan.kernel.uow import UnitOfWork
from qunguan.rumors import Bank, BankEntry
from qunguan.rumors.jsonl import LineError, bank_entry, read
from qunguan.screening import Hit, ScreeningContext, Signal, detectors, evaluate
from qunguan.screening.engine import default_pack
from qunguan.screening.policy import CompiledPack, compile_pack, parse_pack, read_pack_dir

STARTER_BANK = Path(__file__).resolve().parent.parent / "rumors" / "data" / "starter_bank.jsonl"
DEBUNK_DETECTORS = frozenset({"debunk", "debunk_review"})
# The text detectors' signals are memoised by what they read of the context (forwarded copies
# repeat a text): the text, whether it is a forward, and whether it is the sender's first
# message in the group (the links detector reads it). By text alone, the first cached answer
# stood for both, and which one came first depended on how chunks fell to the workers.
_CACHE_SIZE = 20_000
# No detector here touches the database; the ones that would are skipped.
_NO_DATABASE = cast(UnitOfWork, None)


class BankInvalid(ValueError):
    def __init__(self, errors: list[LineError]) -> None:
        super().__init__(f"{len(errors)} bad line(s) in the debunk bank")
        self.errors = errors


def load_bank(path: Path | None) -> tuple[Bank, dict[str, BankEntry]]:
    """The bank of ``path`` (JSONL as for ``qunguan rumors match``), or the shipped starter
    bank (whose lines carry no ids: they are numbered ``starter-N``)."""
    errors: list[LineError] = []
    if path is None:
        lines = STARTER_BANK.read_text(encoding="utf-8").splitlines()
        rows = []
        for number, line in enumerate(lines, 1):
            if line.strip():
                row = json.loads(line)
                row.setdefault("id", f"starter-{number}")
                row.setdefault("debunk_text", row.get("refutation", ""))
                rows.append(json.dumps(row, ensure_ascii=False))
        lines = rows
        name = str(STARTER_BANK)
    else:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        name = str(path)
    entries = list(read(lines, name, bank_entry, errors))
    if errors:
        raise BankInvalid(errors)
    return Bank(entries), {e.id: e for e in entries}


def load_pack(policy: Path | None) -> CompiledPack:
    """The default pack, or the pack of ``policy`` (raises screening's ``PackInvalid``)."""
    if policy is None:
        return default_pack()
    return compile_pack(parse_pack(read_pack_dir(policy)), -1)


@dataclass(frozen=True, slots=True)
class Item:
    """What a worker needs of one message."""

    index: int
    text: str
    forward: bool
    recent: int  # the sender's messages in the group in the minute before (flood)
    first_in_group: bool


@dataclass(slots=True)
class Outcome:
    index: int
    hits: list[dict[str, Any]] = field(default_factory=list)
    debunk: tuple[str, float] | None = None  # best bank match at or above "suggest"


def _card(entry: BankEntry | None, debunk_id: str) -> dict[str, Any]:
    if entry is None:
        return {"debunk_id": debunk_id}
    return {"debunk_id": entry.id, "verdict": str(entry.verdict), "claim": entry.claim[:120],
            "refutation": entry.debunk_text[:200], "source_url": entry.source_url}


class Screener:
    """One per process: the compiled pack, the bank, and caches."""

    def __init__(self, pack: CompiledPack, bank: Bank, entries: dict[str, BankEntry],
                 category: str = "") -> None:
        self.pack = pack
        self.bank = bank
        self.entries = entries
        self.category = category
        registered = {d.name: d for d in detectors()}
        needed = dict.fromkeys(name for stage in ("pre", "post")
                               for rule in pack.by_stage.get(stage, ())
                               for name in rule.detectors)
        self.text_detectors = []
        self.skipped: list[str] = []
        self.flood = None
        for name in needed:
            if name in DEBUNK_DETECTORS:
                continue
            found = registered.get(name)
            if found is None or getattr(found, "uses_database", True):
                self.skipped.append(name)
            elif name == "flood":
                self.flood = found
            else:
                self.text_detectors.append(found)
        self._signals: OrderedDict[tuple[str, str, bool],
                                   tuple[list[Signal], tuple[str, float] | None]] = OrderedDict()

    def _text_signals(self, context: ScreeningContext
                      ) -> tuple[list[Signal], tuple[str, float] | None]:
        key = (context.text, context.action, context.first_in_group)
        cached = self._signals.get(key)
        if cached is not None:
            self._signals.move_to_end(key)
            return cached
        signals: list[Signal] = []
        for d in self.text_detectors:
            signals.extend(d.screen(_NO_DATABASE, context, self.pack.resources))
        best = None
        found = self.bank.match(context.text, top=1) if len(self.bank) else []
        if found and found[0].score >= self.bank.thresholds.suggest:
            m = found[0]
            best = (m.debunk_id, m.score)
            label = "auto" if m.score >= self.bank.thresholds.label else "suggest"
            evidence = {"debunk_id": m.debunk_id, "score": m.score,
                        "card": _card(self.entries.get(m.debunk_id), m.debunk_id)}
            signals.append(Signal("debunk", label, m.score, 1, evidence))
            if label == "suggest":
                signals.append(Signal("debunk_review", label, m.score, 1, evidence))
        self._signals[key] = (signals, best)
        if len(self._signals) > _CACHE_SIZE:
            self._signals.popitem(last=False)
        return signals, best

    def screen(self, item: Item) -> Outcome:
        context = ScreeningContext(
            action="forward" if item.forward else "post", account_id=0, account_verified=True,
            group_id=0, group_category=self.category, group_tier=0, text=item.text,
            fingerprint="", recent_messages=item.recent, first_in_group=item.first_in_group)
        rules = self.pack.rules_for("pre", context) + self.pack.rules_for("post", context)
        text_signals, best = self._text_signals(context)
        by_detector: dict[str, list[Signal]] = {}
        for s in text_signals:
            by_detector.setdefault(s.detector, []).append(s)
        if self.flood is not None:
            by_detector["flood"] = self.flood.screen(_NO_DATABASE, context, self.pack.resources)
        hits = evaluate(rules, by_detector, self.pack.version)
        return Outcome(item.index, [_hit(h) for h in hits], best)


def _hit(h: Hit) -> dict[str, Any]:
    return {"rule": h.rule, "action": h.action.label, "severity": h.severity, "mode": h.mode,
            "stage": h.stage, "detectors": h.detectors, "reason_en": h.reason.text_en,
            "signals": [s.public() for s in h.signals]}


# --- one screener per worker process --------------------------------------------------------

_WORKER: Screener | None = None


def init_worker(policy: Path | None, bank: Path | None, category: str) -> None:
    global _WORKER
    loaded, entries = load_bank(bank)
    _WORKER = Screener(load_pack(policy), loaded, entries, category)


def screen_chunk(items: list[Item]) -> list[Outcome]:
    assert _WORKER is not None, "init_worker first"
    return [_WORKER.screen(i) for i in items]
