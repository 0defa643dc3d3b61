"""Layer (c): an inverted index of character n-grams with IDF weights that grows and shrinks in
place, so a new debunk is searchable as soon as ``add`` returns.

Layout (for speed at 100k entries, see BENCHMARKS.md): a frozen *base* in CSC form (one
``indptr`` and one int32 array of document numbers for all n-grams, read with one vectorised
gather per query instead of a Python loop per n-gram) plus a small *delta* of postings for the
documents added since the base was built. ``merge`` folds the delta into a new base, drops
retired documents and refreshes every IDF weight from the current document frequencies; it runs
by itself once the delta (or the retired share) reaches an eighth of the base, so the total
merge work stays linear in the number of additions.

A query runs in two phases. Candidates come from the n-grams whose document frequency is at
most ``STOP_DF_SHARE`` of the index (the long posting lists of very common n-grams cost the
most and rank the least, like stop-words); then the exact overlap of each candidate with the
whole query is computed from its forward row (its own n-grams), so the covers returned are the
same as a full scan would give for those documents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]

# An n-gram found in more than this share of the documents says nothing about which one a
# message repeats: it counts in neither cover (but still in the masses, so covering only
# common n-grams is not a match). Part of the calibrated behaviour: do not change lightly.
MAX_DF_SHARE = 0.2
MIN_MAX_DF = 50
# N-grams more frequent than this share (floor ``MIN_STOP_DF``) do not nominate candidates;
# they still count in the exact second phase. 0.2% keeps R@1 and the false labels of
# ``qunguan eval rumors`` unchanged and bounds the postings a query reads.
STOP_DF_SHARE = 0.002
MIN_STOP_DF = 64
# A query always nominates with at least its this many rarest n-grams, however common.
MIN_NOMINATORS = 8
# Candidates rescored exactly per query, at least.
MIN_CANDIDATES = 64
# The delta is merged into the base when it holds more than this many documents or an eighth
# of the base, whichever is larger.
MIN_DELTA_DOCS = 256


def idf(df: IntArray | int, n: int) -> FloatArray:
    return np.log((n + 1) / (np.asarray(df, dtype=np.float64) + 1)) + 1.0


@dataclass(frozen=True, slots=True)
class Overlap:
    """How much of document ``doc`` a query covers (``doc_cover``, IDF-weighted share of the
    document's n-grams found in the query) and how much of the query the document covers
    (``query_cover``)."""

    doc: int
    doc_cover: float
    query_cover: float


def _grown(a: npt.NDArray[np.generic], size: int) -> npt.NDArray[np.generic]:
    if size <= len(a):
        return a
    out = np.zeros(max(size, 2 * len(a)), dtype=a.dtype)
    out[: len(a)] = a
    return out


class LexicalIndex:
    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._n_cols = 0
        self._df = np.zeros(1024, dtype=np.int64)
        self._w = np.zeros(1024, dtype=np.float64)  # IDF snapshot per n-gram (doc side)
        self._rows: list[Int32Array | None] = []  # forward rows: sorted n-gram columns
        self._mass = np.zeros(64, dtype=np.float64)
        self._active = np.zeros(64, dtype=bool)
        self._n_active = 0
        # Base (CSC): documents of column c are _base_ids[_base_ptr[c]:_base_ptr[c + 1]].
        self._base_ptr = np.zeros(1, dtype=np.int64)
        self._base_ids = np.zeros(0, dtype=np.int32)
        self._base_docs = 0  # documents (active then) in the base
        self._delta: dict[int, list[int]] = {}
        self._delta_docs = 0
        self._retired_since_merge = 0
        # Scratch per column, zero between queries: the query's weight of each of its columns.
        self._scratch = np.zeros(1024, dtype=np.float64)

    def __len__(self) -> int:
        return self._n_active

    @property
    def capacity(self) -> int:
        return len(self._rows)

    def _columns(self, grams: Iterable[str]) -> Int32Array:
        vocab = self._vocab
        cols = []
        for g in grams:
            col = vocab.get(g)
            if col is None:
                col = vocab[g] = self._n_cols
                self._n_cols += 1
            cols.append(col)
        if self._n_cols > len(self._df):
            self._df = _grown(self._df, self._n_cols)  # type: ignore[assignment]
            self._w = _grown(self._w, self._n_cols)  # type: ignore[assignment]
            self._scratch = _grown(self._scratch, self._n_cols)  # type: ignore[assignment]
        return np.unique(np.asarray(cols, dtype=np.int32))

    def _new_doc(self, grams: Iterable[str]) -> tuple[int, Int32Array]:
        doc = len(self._rows)
        if doc >= len(self._mass):
            self._mass = _grown(self._mass, doc + 1)  # type: ignore[assignment]
            self._active = _grown(self._active, doc + 1)
        cols = self._columns(grams)
        self._rows.append(cols)
        self._df[cols] += 1
        self._n_active += 1
        self._active[doc] = True
        return doc, cols

    def add(self, grams: Iterable[str]) -> int:
        """Index a document; its number (used by ``retire`` and returned by ``query``)."""
        doc, cols = self._new_doc(grams)
        # N-grams the snapshot has never weighed get their IDF now; the others keep the
        # snapshot's until the next merge, so all documents share one weight per n-gram.
        fresh = cols[self._w[cols] == 0]
        self._w[fresh] = idf(self._df[fresh], self._n_active)
        self._mass[doc] = float(self._w[cols].sum())
        delta = self._delta
        for col in cols.tolist():
            delta.setdefault(col, []).append(doc)
        self._delta_docs += 1
        if self._delta_docs > max(MIN_DELTA_DOCS, self._base_docs // 8):
            self.merge()
        return doc

    def add_many(self, docs: Iterable[Iterable[str]]) -> list[int]:
        """Index many documents with one merge at the end (bulk build)."""
        numbers = [self._new_doc(d)[0] for d in docs]
        self.merge()
        return numbers

    def retire(self, doc: int) -> None:
        if doc >= len(self._rows) or not self._active[doc]:
            return
        self._active[doc] = False
        cols = self._rows[doc]
        assert cols is not None
        self._df[cols] -= 1
        self._rows[doc] = None
        self._n_active -= 1
        self._retired_since_merge += 1
        if self._retired_since_merge > max(MIN_DELTA_DOCS, self._base_docs // 8):
            self.merge()

    def merge(self) -> None:
        """Build a new base from every active document (delta included, retired ones dropped)
        and recompute every IDF weight and document mass from the current frequencies."""
        n_cols = self._n_cols
        live = [(d, r) for d, r in enumerate(self._rows) if r is not None]
        self._w[:n_cols] = idf(self._df[:n_cols], max(self._n_active, 1))
        if live:
            docs = np.fromiter((d for d, _ in live), dtype=np.int32, count=len(live))
            lens = np.fromiter((len(r) for _, r in live), dtype=np.int64, count=len(live))
            cols = np.concatenate([r for _, r in live])
            counts = np.bincount(cols, minlength=n_cols)
            # Sort one (column, document) key in place rather than argsort + gather: at 100k
            # documents (22M postings) the index array and its copies were the peak RSS.
            key = cols.astype(np.int64)
            del cols
            key <<= 32
            key |= np.repeat(docs.astype(np.int64), lens)
            key.sort()
            self._base_ids = (key & 0xFFFFFFFF).astype(np.int32)
            del key
            self._mass[: len(self._rows)] = 0.0
            w = self._w
            self._mass[docs] = [w[r].sum() for _, r in live]
        else:
            self._base_ids = np.zeros(0, dtype=np.int32)
            counts = np.zeros(n_cols, dtype=np.int64)
        self._base_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._base_docs = len(live)
        self._delta = {}
        self._delta_docs = 0
        self._retired_since_merge = 0

    # The old name: callers that reweighed now merge (which reweighs).
    reweigh = merge

    def query(self, grams: Iterable[str], top: int) -> list[Overlap]:
        """The ``top`` documents with the largest IDF-weighted n-gram overlap with the query."""
        n = self._n_active
        if n == 0 or top <= 0:
            return []
        found = list(map(self._vocab.get, grams, repeat(-1)))  # -1: never seen
        if not found:
            return []
        all_cols = np.asarray(found, dtype=np.int64)
        known = all_cols[all_cols >= 0]
        # The query's mass counts n-grams the index has never seen at the top IDF.
        q_mass = float(idf(0, n)) * (len(all_cols) - len(known))
        df = self._df[known]
        q_w = idf(df, n)
        q_mass += float(q_w.sum())
        counted = (df > 0) & (df <= max(MAX_DF_SHARE * n, MIN_MAX_DF))
        cols, q_w, df = known[counted], q_w[counted], df[counted]
        if len(cols) == 0:
            return []
        # Phase 1: candidates from the rarer n-grams, scored on those alone.
        nominate = df <= max(STOP_DF_SHARE * n, MIN_STOP_DF)
        if np.count_nonzero(nominate) < MIN_NOMINATORS:
            # A query made of common n-grams only still finds the documents sharing its
            # rarest ones (a short claim in everyday words must stay matchable).
            nominate[np.argsort(df, kind="stable")[:MIN_NOMINATORS]] = True
        n_cols_base = len(self._base_ptr) - 1
        in_base = nominate & (cols < n_cols_base)
        rare, rare_q = cols[in_base], q_w[in_base]
        starts, ends = self._base_ptr[rare], self._base_ptr[rare + 1]
        lens = ends - starts
        total = int(lens.sum())
        if total:
            offsets = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)
            ids = self._base_ids[offsets]
            weights = np.repeat(self._w[rare], lens)
            q_weights = np.repeat(rare_q, lens)
        else:
            ids, weights, q_weights = np.zeros(0, dtype=np.int32), np.zeros(0), np.zeros(0)
        if self._delta:
            extra: list[int] = []
            extra_w: list[float] = []
            extra_q: list[float] = []
            for col, w, qw in zip(cols[nominate].tolist(), self._w[cols[nominate]].tolist(),
                                  q_w[nominate].tolist(), strict=True):
                posted = self._delta.get(col)
                if posted:
                    extra += posted
                    extra_w += [w] * len(posted)
                    extra_q += [qw] * len(posted)
            if extra:
                ids = np.concatenate([ids, np.asarray(extra, dtype=np.int32)])
                weights = np.concatenate([weights, extra_w])
                q_weights = np.concatenate([q_weights, extra_q])
        if len(ids) == 0:
            return []
        # Few postings: sort them (cost proportional to what was read); many: count into an
        # array as long as the index, which is then cheaper than the sort.
        cand: npt.NDArray[np.intp]
        if len(ids) * 8 < len(self._rows):
            cand, slot = np.unique(ids, return_inverse=True)
        else:
            counted_ids = np.bincount(ids)
            cand = np.flatnonzero(counted_ids)
            slot = (np.cumsum(counted_ids > 0) - 1)[ids]
        live = self._active[cand]
        wanted = max(MIN_CANDIDATES, 4 * top)
        if len(cand) > wanted:
            # The same rank as below, on the nominating n-grams only.
            partial = np.bincount(slot, weights=weights, minlength=len(cand))
            partial_q = np.bincount(slot, weights=q_weights, minlength=len(cand))
            share = partial / self._mass[cand] * partial_q * live
            cand = cand[np.argpartition(-share, wanted - 1)[:wanted]]
        cand = cand[self._active[cand]]
        if len(cand) == 0:
            return []
        # Phase 2: exact overlap of each candidate with every counted query n-gram.
        # Active documents only (``cand`` was filtered above): every row is there.
        rows = [r for r in map(self._rows.__getitem__, cand.tolist()) if r is not None]
        row_lens = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        row_cols = np.concatenate(rows)
        owner = np.repeat(np.arange(len(cand)), row_lens)
        scratch = self._scratch
        scratch[cols] = q_w
        try:
            q_hit = scratch[row_cols]
        finally:
            scratch[cols] = 0.0
        hit = q_hit > 0
        doc_overlap = np.bincount(owner, weights=self._w[row_cols] * hit, minlength=len(cand))
        query_overlap = np.bincount(owner, weights=q_hit, minlength=len(cand))
        mass = self._mass[cand]
        doc_cover = np.divide(doc_overlap, mass, out=np.zeros(len(cand)), where=mass > 0)
        query_cover = query_overlap / q_mass
        # Rank by the geometric mean of the two covers (a cosine-like score on sets).
        rank = np.sqrt(doc_cover * query_cover)
        order = np.lexsort((cand, -rank))
        order = order[rank[order] > 0][:top]
        return [Overlap(int(cand[i]), float(min(doc_cover[i], 1.0)),
                        float(min(query_cover[i], 1.0))) for i in order]
