"""Layer (c): an inverted index of character n-grams with IDF weights that grows and shrinks in
place, so a new debunk is searchable as soon as ``add`` returns.

Postings are ``array.array`` buffers appended to on ``add`` and read without copying through
``numpy.frombuffer`` at query time; a retired document keeps its postings (masked out) until
``compact`` runs. IDF weights of a document are fixed when it is added; ``reweigh`` recomputes
them all, and runs by itself when the index has grown or shrunk by a quarter since the last
time, so early documents are not stuck with the IDF of a tiny index.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# An n-gram found in more than this share of the documents says nothing about which one a
# message repeats; skipping it bounds the work per query on large banks.
MAX_DF_SHARE = 0.2
REWEIGH_GROWTH = 1.25


def idf(df: int, n: int) -> float:
    return math.log((n + 1) / (df + 1)) + 1.0


@dataclass(frozen=True, slots=True)
class Overlap:
    """How much of document ``doc`` a query covers (``doc_cover``, IDF-weighted share of the
    document's n-grams found in the query) and how much of the query the document covers
    (``query_cover``)."""

    doc: int
    doc_cover: float
    query_cover: float


class LexicalIndex:
    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._post_ids: list[array[int]] = []
        self._post_w: list[array[float]] = []
        self._df: list[int] = []
        self._doc_terms: list[array[int] | None] = []
        self._mass = np.zeros(64, dtype=np.float64)
        self._active = np.zeros(64, dtype=bool)
        self._n_active = 0
        self._n_at_weighing = 0

    def __len__(self) -> int:
        return self._n_active

    @property
    def capacity(self) -> int:
        return len(self._doc_terms)

    def _grow(self, size: int) -> None:
        if size <= len(self._mass):
            return
        new = max(size, 2 * len(self._mass))
        self._mass = np.concatenate([self._mass, np.zeros(new - len(self._mass))])
        self._active = np.concatenate([self._active, np.zeros(new - len(self._active), bool)])

    def _term(self, gram: str) -> int:
        col = self._vocab.get(gram)
        if col is None:
            col = len(self._df)
            self._vocab[gram] = col
            self._post_ids.append(array("i"))
            self._post_w.append(array("f"))
            self._df.append(0)
        return col

    def add(self, grams: Iterable[str]) -> int:
        """Index a document; its number (used by ``retire`` and returned by ``query``)."""
        doc = len(self._doc_terms)
        self._grow(doc + 1)
        cols = array("i", sorted({self._term(g) for g in grams}))
        self._doc_terms.append(cols)
        for col in cols:
            self._df[col] += 1
        self._n_active += 1
        self._active[doc] = True
        self._weigh(doc, cols)
        if self._n_active > REWEIGH_GROWTH * max(self._n_at_weighing, 8):
            self.reweigh()
        return doc

    def add_many(self, docs: Iterable[Iterable[str]]) -> list[int]:
        """Index many documents with one weighing at the end (bulk build)."""
        n_before = self._n_at_weighing
        self._n_at_weighing = 1 << 62  # no reweigh per add
        numbers = [self.add(d) for d in docs]
        self._n_at_weighing = n_before
        self.reweigh()
        return numbers

    def _weigh(self, doc: int, cols: array[int]) -> None:
        n = self._n_active
        total = 0.0
        for col in cols:
            w = idf(self._df[col], n)
            self._post_ids[col].append(doc)
            self._post_w[col].append(w)
            total += w
        self._mass[doc] = total

    def retire(self, doc: int) -> None:
        if doc >= len(self._doc_terms) or not self._active[doc]:
            return
        self._active[doc] = False
        cols = self._doc_terms[doc]
        assert cols is not None
        for col in cols:
            self._df[col] -= 1
        self._doc_terms[doc] = None
        self._n_active -= 1
        if self._n_active * REWEIGH_GROWTH < self._n_at_weighing:
            self.reweigh()

    def reweigh(self) -> None:
        """Recompute every IDF weight from the current document frequencies and drop the
        postings of retired documents."""
        for col in range(len(self._df)):
            self._post_ids[col] = array("i")
            self._post_w[col] = array("f")
        for doc, cols in enumerate(self._doc_terms):
            if cols is not None:
                self._weigh(doc, cols)
        self._n_at_weighing = self._n_active

    def query(self, grams: Iterable[str], top: int) -> list[Overlap]:
        """The ``top`` documents with the largest IDF-weighted n-gram overlap with the query."""
        n = self._n_active
        if n == 0 or top <= 0:
            return []
        max_df = max(MAX_DF_SHARE * n, 50)
        q_mass = 0.0
        ids: list[npt.NDArray[np.int32]] = []
        d_w: list[npt.NDArray[np.float32]] = []
        q_w: list[float] = []
        lengths: list[int] = []
        vocab, dfs, post_ids, post_w = self._vocab, self._df, self._post_ids, self._post_w
        for g in grams:
            col = vocab.get(g)
            df = dfs[col] if col is not None else 0
            w = idf(df, n)
            q_mass += w
            if col is None or df == 0 or df > max_df:
                continue
            ids.append(np.frombuffer(post_ids[col], dtype=np.int32))
            d_w.append(np.frombuffer(post_w[col], dtype=np.float32))
            q_w.append(w)
            lengths.append(len(post_ids[col]))
        if not ids:
            return []
        all_ids = np.concatenate(ids)
        size = len(self._doc_terms)
        doc_overlap = np.bincount(all_ids, weights=np.concatenate(d_w), minlength=size)
        query_overlap = np.bincount(all_ids, weights=np.repeat(q_w, lengths), minlength=size)
        mass = self._mass[:size]
        doc_cover = np.divide(doc_overlap, mass, out=np.zeros(size), where=mass > 0)
        query_cover = query_overlap / q_mass
        # Rank by the geometric mean of the two covers (a cosine-like score on sets).
        rank = np.sqrt(doc_cover * query_cover) * self._active[:size]
        k = min(top, int(np.count_nonzero(rank)))
        if k == 0:
            return []
        best = np.argpartition(-rank, k - 1)[:k] if k < size else np.arange(size)
        best = best[np.argsort(-rank[best], kind="stable")][:k]
        return [Overlap(int(d), float(min(doc_cover[d], 1.0)), float(min(query_cover[d], 1.0)))
                for d in best]
