"""Content clusters (CR-6): every message joins the cluster of what it forwards and of any
earlier message it copies, whatever order the messages arrive in."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from qunguan.rumors import text as rtext
from qunguan.rumors.matcher import Bank, BankEntry, Thresholds

# A message joins an earlier one when the matcher's score against it reaches this value. It
# sits between "suggest" and "label": copies with small edits and close paraphrases join,
# messages that merely share a topic do not (measured in docs/evaluation.md).
COPY_SCORE = 0.8
# Shorter texts ("转发", "同意", a lone emoji) say nothing about which rumour they carry; they
# join clusters through forward provenance only.
MIN_COPY_CHARS = 8


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    text: str
    ts: datetime
    group: str = ""
    sender: str = ""
    forwarded_from: str | None = None


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.setdefault(root, root) != root:
            root = self.parent[root]
        while x != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def cluster_messages(messages: Iterable[Message], copy_score: float = COPY_SCORE,
                     thresholds: Thresholds | None = None,
                     progress: Callable[[int], None] | None = None) -> dict[str, str]:
    """Map each message id to its cluster id: the id of the cluster's earliest message (by
    ``ts``, then id). Messages are taken in time order, so the result does not depend on the
    input order; a forward of a message missing from the input joins the other forwards of it.
    """
    ordered = sorted(messages, key=lambda m: (m.ts, m.id))
    uf = _Union()
    seen_text = Bank(thresholds=thresholds or Thresholds())
    indexed: set[str] = set()
    for m in ordered:
        if progress:
            progress(1)
        uf.find(m.id)
        if m.forwarded_from:
            uf.union(f"\x00{m.forwarded_from}", m.id)
            continue  # a forward carries its original's text; provenance already joins it
        prepared = rtext.prepare(m.text)
        if len(rtext.compact(prepared)) < MIN_COPY_CHARS:
            continue
        best = seen_text.match(m.text, top=1)
        if best and best[0].score >= copy_score:
            uf.union(best[0].debunk_id, m.id)
        digest = rtext.fingerprint(prepared)
        if digest in indexed:
            # A verbatim repeat (once normalised) of a text already indexed, which it matched
            # exactly and so joined: what it would match, that text matches alike. Not
            # indexing it keeps the index to the distinct texts, which its memory grows with.
            continue
        indexed.add(digest)
        seen_text.add(BankEntry(id=m.id, claim=m.text))
    for m in ordered:  # a present original joins its forwards
        if f"\x00{m.id}" in uf.parent:
            uf.union(f"\x00{m.id}", m.id)
    first: dict[str, str] = {}
    for m in ordered:
        first.setdefault(uf.find(m.id), m.id)
    return {m.id: first[uf.find(m.id)] for m in ordered}
