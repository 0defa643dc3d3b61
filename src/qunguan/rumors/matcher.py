"""The debunk matcher: a bank of debunked claims and the layers that find which one a message
repeats, fused into one calibrated score.

Layers, cheapest first:

(a) exact: SHA-256 of the prepared text (``text.prepare``: ``kernel.text.normalise`` plus the
    length rule), so traditional characters, full-width letters, spacing tricks, emoji and
    forwarding boilerplate do not hide a verbatim copy;
(b) near-verbatim: MinHash LSH over character 3-shingles, for copies with small edits;
(c) lexical: an incremental IDF-weighted index of character 1-3-grams (``lexical.py``) that
    says how much of a claim a message covers and how much of the message the claim covers;
    a long message is also queried in chunks of the middle its length cut leaves out
    (``text.prepare_with_chunks``), each entry keeping its best evidence.

Fusion (``fuse``) turns the evidence into one score in [0, 1] on a fixed scale: 1.0 for an
exact copy, ``SUGGEST`` (0.75) and ``LABEL`` (0.95) at raw evidence values calibrated on data
(see docs/rumors.md), linear in between. The semantic layer (d) is not shipped: see
docs/evaluation.md for the measurement behind that decision.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from qunguan.rumors import text as rtext
from qunguan.rumors.lexical import LexicalIndex, Overlap
from qunguan.rumors.nearcopy import NearCopyIndex


class Verdict(enum.StrEnum):
    FALSE = "false"
    MISLEADING = "misleading"
    UNVERIFIED = "unverified"
    TRUE = "true"


@dataclass(frozen=True, slots=True)
class BankEntry:
    """A debunked claim. ``claim`` is the claim as it circulates (what messages are matched
    against); ``phrasings`` are other forms of it seen in circulation (added by officers or
    learned when a reviewer confirms a match), matched like the claim, each on its own:
    an entry's evidence is the best of its claim and its phrasings. ``debunk_text`` is the
    refutation shown on the card."""

    id: str
    claim: str
    debunk_text: str = ""
    verdict: Verdict = Verdict.FALSE
    source_url: str = ""
    language: str = "zh"
    phrasings: tuple[str, ...] = ()

    def forms(self) -> tuple[str, ...]:
        """The claim and its phrasings, each once."""
        return tuple(dict.fromkeys((self.claim, *self.phrasings)))


@dataclass(frozen=True, slots=True)
class Evidence:
    """What each layer saw for one (message, entry) pair."""

    exact: bool = False
    near_jaccard: float = 0.0
    claim_cover: float = 0.0
    message_cover: float = 0.0


@dataclass(frozen=True, slots=True)
class Match:
    debunk_id: str
    score: float
    evidence: Evidence = field(compare=False)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Scores at or above ``label`` attach the debunk card automatically; at or above
    ``suggest`` the pair goes to a reviewer. The raw anchors map lexical and near-verbatim
    evidence onto that scale; they were calibrated with ``qunguan eval rumors`` (see
    docs/rumors.md, "Calibration")."""

    suggest: float = 0.75
    label: float = 0.95
    raw_floor: float = 0.12  # raw evidence that maps to score 0.5
    raw_suggest: float = 0.30
    raw_label: float = 0.62


DEFAULT_THRESHOLDS = Thresholds()

# Claim coverage weighs more than message coverage: a post that repeats a claim and adds a
# paragraph of its own still repeats it; a short message that covers part of a long claim does
# not.
CLAIM_COVER_WEIGHT = 0.7
# Claims so short that chance overlap covers them (a few characters) are matched exactly only.
MIN_CLAIM_CHARS = 4
CANDIDATES = 16


def _indexable(prepared: str) -> bool:
    return len(rtext.compact(prepared)) >= MIN_CLAIM_CHARS


def raw_evidence(ev: Evidence) -> float:
    """The one number the fusion calibrates: the larger of the lexical and the near-verbatim
    evidence (both in [0, 1])."""
    lexical: float = (ev.claim_cover ** CLAIM_COVER_WEIGHT
                      * ev.message_cover ** (1 - CLAIM_COVER_WEIGHT))
    return max(lexical, ev.near_jaccard)


def fuse(ev: Evidence, th: Thresholds = DEFAULT_THRESHOLDS) -> float:
    """Calibrated score in [0, 1]: piecewise linear through (0, 0), (raw_floor, 0.5),
    (raw_suggest, suggest), (raw_label, label), (1, 1); an exact copy scores 1."""
    if ev.exact:
        return 1.0
    r = raw_evidence(ev)
    points = ((0.0, 0.0), (th.raw_floor, 0.5), (th.raw_suggest, th.suggest),
              (th.raw_label, th.label), (1.0, 1.0))
    for (x0, y0), (x1, y1) in pairwise(points):
        if r <= x1:
            return round(y0 + (y1 - y0) * (r - x0) / (x1 - x0), 4)
    return 1.0


@dataclass(slots=True)
class _Slot:
    entry: BankEntry
    docs: list[int]  # numbers in the lexical index of the forms long enough to index
    fingerprints: list[str]  # of every form (claim and phrasings) that prepares to something
    near_keys: list[tuple[str, int]]


class Bank:
    """The debunk bank and its indexes. ``add`` and ``retire`` change it in place: a new entry
    matches the very next message, with no rebuild. Not thread-safe: the server holds one per
    process and serialises updates."""

    def __init__(self, entries: Iterable[BankEntry] = (),
                 thresholds: Thresholds = DEFAULT_THRESHOLDS) -> None:
        self.thresholds = thresholds
        self._slots: dict[str, _Slot] = {}
        self._by_doc: dict[int, str] = {}
        self._exact: dict[str, set[str]] = {}
        self._lexical = LexicalIndex()
        self._near = NearCopyIndex()
        self._bulk(list(entries))

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._slots

    def get(self, entry_id: str) -> BankEntry | None:
        slot = self._slots.get(entry_id)
        return slot.entry if slot else None

    def _bulk(self, entries: list[BankEntry]) -> None:
        prepared: list[tuple[BankEntry, list[str]]] = []
        for e in entries:
            if e.id in self._slots:
                self.retire(e.id)
            prepared.append((e, [rtext.prepare(f) for f in e.forms()]))
        indexable = [p for _, forms in prepared for p in forms if _indexable(p)]
        docs = iter(self._lexical.add_many(rtext.grams(p) for p in indexable))
        for e, forms in prepared:
            self._place(e, forms, [next(docs) if _indexable(p) else -1 for p in forms])

    def _place(self, entry: BankEntry, forms: list[str], docs: list[int]) -> None:
        slot = _Slot(entry, [], [], [])
        for k, (prepared, doc) in enumerate(zip(forms, docs, strict=True)):
            if not prepared:
                continue
            fp = rtext.fingerprint(prepared)
            slot.fingerprints.append(fp)
            self._exact.setdefault(fp, set()).add(entry.id)
            if doc >= 0:
                slot.docs.append(doc)
                self._by_doc[doc] = entry.id
                key = (entry.id, k)
                self._near.add(key, rtext.shingles(prepared))
                slot.near_keys.append(key)
        self._slots[entry.id] = slot

    def add(self, entry: BankEntry) -> None:
        """Add an entry, or replace the one with the same id."""
        if entry.id in self._slots:
            self.retire(entry.id)
        forms = [rtext.prepare(f) for f in entry.forms()]
        self._place(entry, forms,
                    [self._lexical.add(rtext.grams(p)) if _indexable(p) else -1 for p in forms])

    def retire(self, entry_id: str) -> None:
        """Stop matching an entry (retired or withdrawn debunk). Unknown ids are ignored."""
        slot = self._slots.pop(entry_id, None)
        if slot is None:
            return
        for fp in slot.fingerprints:
            ids = self._exact.get(fp)
            if ids is not None:
                ids.discard(entry_id)
                if not ids:
                    del self._exact[fp]
        for doc in slot.docs:
            self._lexical.retire(doc)
            del self._by_doc[doc]
        for key in slot.near_keys:
            self._near.remove(key)

    def match(self, text: str, top: int = 5) -> list[Match]:
        """The ``top`` entries a message most likely repeats, best first (scores from
        ``fuse``). Empty and whitespace-only messages, and messages that normalise to nothing,
        match nothing."""
        prepared, chunks = rtext.prepare_with_chunks(text)
        if not prepared or top <= 0:
            return []
        evidence: dict[str, Evidence] = {}
        for entry_id in self._exact.get(rtext.fingerprint(prepared), ()):
            evidence[entry_id] = Evidence(exact=True, near_jaccard=1.0, claim_cover=1.0,
                                          message_cover=1.0)
        near: dict[str, float] = {}
        for key, jaccard in self._near.query(rtext.shingles(prepared)):
            owner = str(key[0])  # type: ignore[index]  # (entry id, form number)
            near[owner] = max(near.get(owner, 0.0), jaccard)
        wanted = max(CANDIDATES, top)
        exact = set(evidence)
        # The whole (head-and-tail) text, then the middle of a long text, which the
        # head-and-tail cut leaves out, in chunks: each entry keeps the form and the part of
        # the message that repeat each other best.
        for part in (prepared, *chunks):
            for ov in self._lexical_top(rtext.grams(part), wanted):
                entry_id = self._by_doc[ov.doc]
                if entry_id in exact:
                    continue
                found = Evidence(False, near.get(entry_id, 0.0), ov.doc_cover,
                                 ov.query_cover)
                seen = evidence.get(entry_id)
                if seen is None or raw_evidence(found) > raw_evidence(seen):
                    evidence[entry_id] = found
        for entry_id, jaccard in near.items():  # near copies the lexical top list missed
            if entry_id not in evidence:
                evidence[entry_id] = Evidence(near_jaccard=jaccard)
        matches = [Match(i, fuse(ev, self.thresholds), ev) for i, ev in evidence.items()]
        # Ties go to the shorter id, then the smaller: for the server's numeric ids, the older
        # entry ("9" before "10").
        matches.sort(key=lambda m: (-m.score, -raw_evidence(m.evidence), len(m.debunk_id),
                                    m.debunk_id))
        return matches[:top]

    def _lexical_top(self, grams: set[str], wanted: int) -> list[Overlap]:
        """The lexical index's best documents, enough of them to name ``wanted`` entries (or
        all there are): an entry's claim and each of its phrasings are documents of their own,
        and one entry's many close forms must not fill the list and push out the others."""
        n = wanted
        while True:
            found = self._lexical.query(grams, n)
            if len(found) < n or len({self._by_doc[o.doc] for o in found}) >= wanted:
                return found
            n *= 4

    def label(self, matches: list[Match]) -> str | None:
        """The entry whose card is attached automatically, if the best match earns it."""
        if matches and matches[0].score >= self.thresholds.label:
            return matches[0].debunk_id
        return None

    def suggestions(self, matches: list[Match]) -> list[Match]:
        """Matches a reviewer should see (between the two thresholds)."""
        th = self.thresholds
        return [m for m in matches if th.suggest <= m.score < th.label]
