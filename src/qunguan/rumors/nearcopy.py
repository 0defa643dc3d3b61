"""Layer (b): near-verbatim copies, MinHash LSH over character shingles (datasketch)."""

from __future__ import annotations

from collections.abc import Hashable

from datasketch import MinHash, MinHashLSH

NUM_PERM = 64
LSH_THRESHOLD = 0.5  # Jaccard at which a pair becomes a likely LSH candidate


_TEMPLATE = MinHash(num_perm=NUM_PERM)
_PERMUTATIONS, _SCHEME = _TEMPLATE.permutations, _TEMPLATE.scheme  # drawn once, not per hash


def _hash32(shingle: str) -> int:
    # Python's own string hash (cached on the str, SipHash) instead of datasketch's SHA-1 per
    # shingle: SHA-1 was a quarter of the time per message. It is salted per process, which is
    # fine because MinHashes never leave the process that made them (the index is rebuilt
    # from the bank at start-up).
    return hash(shingle) & 0xFFFFFFFF


def minhash(shingles: set[str]) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, hashfunc=_hash32, permutations=_PERMUTATIONS,
                scheme=_SCHEME)
    if shingles:
        m.update_batch(shingles)
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
