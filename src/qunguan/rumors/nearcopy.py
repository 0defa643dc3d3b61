"""Layer (b): near-verbatim copies, MinHash LSH over character shingles (datasketch)."""

from __future__ import annotations

from collections.abc import Hashable

from datasketch import MinHash, MinHashLSH

NUM_PERM = 64
LSH_THRESHOLD = 0.5  # Jaccard at which a pair becomes a likely LSH candidate


_TEMPLATE = MinHash(num_perm=NUM_PERM)
_PERMUTATIONS, _SCHEME = _TEMPLATE.permutations, _TEMPLATE.scheme  # drawn once, not per hash


def minhash(shingles: set[str]) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, permutations=_PERMUTATIONS, scheme=_SCHEME)
    if shingles:
        m.update_batch([s.encode() for s in shingles])
    return m


class NearCopyIndex:
    """Keys whose shingle sets are near-identical to a query's, with the estimated Jaccard."""

    def __init__(self, threshold: float = LSH_THRESHOLD) -> None:
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._hashes: dict[Hashable, MinHash] = {}

    def __len__(self) -> int:
        return len(self._hashes)

    def add(self, key: Hashable, shingles: set[str]) -> None:
        if not shingles or key in self._hashes:
            return
        m = minhash(shingles)
        self._lsh.insert(key, m)
        self._hashes[key] = m

    def remove(self, key: Hashable) -> None:
        if self._hashes.pop(key, None) is not None:
            self._lsh.remove(key)

    def query(self, shingles: set[str]) -> list[tuple[Hashable, float]]:
        if not shingles or not self._hashes:
            return []
        m = minhash(shingles)
        found = [(k, float(m.jaccard(self._hashes[k]))) for k in self._lsh.query(m)]
        return sorted(found, key=lambda kv: -kv[1])
