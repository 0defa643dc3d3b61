"""Merkle tree hashing, proofs and their verification, exactly as RFC 9162 §2.1 defines them
(the same construction as RFC 6962, Certificate Transparency).

A public module: outside verifiers call these functions directly. Hashes are SHA-256.

- ``leaf_hash(data)`` is SHA-256(0x00 || data); an interior node is SHA-256(0x01 || left ||
  right); the tree of any size splits at the largest power of two smaller than its size.
- ``leaves`` arguments are the raw entries (the bytes that are hashed into leaves).
- Arguments of the verifiers mean what RFC 9162 §2.1.3.2 and §2.1.4.2 say: a leaf index counts
  from 0, a size is a number of leaves, a proof is the list of node hashes the server sent.
  A verifier answers ``False`` for anything that does not verify, malformed input included
  (a hash that is not 32 bytes, an index beyond the size); it never raises.

The stored log keeps every complete subtree's hash (a *node*, named by its level above the
leaves and its index within that level), so proofs are assembled from at most two nodes per
level: the ``*_plan`` functions name the ranges of leaves whose hashes a proof consists of, and
``range_nodes`` names the stored nodes one such range folds from. The pure functions below run
the same plans over an in-memory tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]  # (level, index): covers leaves [index << level, (index + 1) << level)
Range = tuple[int, int]  # leaves [begin, end)


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf entry."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- plans: which ranges of leaves a proof is made of ----------------------------------------


def range_nodes(begin: int, end: int) -> list[NodeId]:
    """The complete subtrees that cover leaves [begin, end), largest first. For the ranges
    that occur in RFC 9162's MTH recursion (``begin`` a multiple of a power of two at least
    ``end - begin``), folding their hashes right to left with ``node_hash`` gives MTH."""
    out: list[NodeId] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        out.append((level, begin >> level))
        begin += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of ``range_nodes``, folded right to left."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_plan(index: int, size: int) -> list[Range]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]) as ranges of leaves, bottom first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not below tree size {size}")
    out: list[Range] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            out.append((begin + k, end))
            end = begin + k
        else:
            out.append((begin, begin + k))
            begin += k
    out.reverse()
    return out


def consistency_plan(old_size: int, new_size: int) -> list[Range]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]) as ranges of leaves, bottom first."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"old size {old_size} is not between 0 and the new size {new_size}")
    if old_size in (0, new_size):
        return []
    out: list[Range] = []
    begin, end, m, complete = 0, new_size, old_size, True
    while m != end - begin:
        n = end - begin
        k = _split(n)
        if m <= k:
            out.append((begin + k, end))
            end = begin + k
        else:
            out.append((begin, begin + k))
            begin, m, complete = begin + k, m - k, False
    if not complete:
        out.append((begin, end))
    out.reverse()
    return out


def plan_nodes(plan: Iterable[Range]) -> set[NodeId]:
    return {node for begin, end in plan for node in range_nodes(begin, end)}


def assemble(plan: Sequence[Range], nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """The proof's hashes from the stored nodes the plan names."""
    return [fold([nodes[n] for n in range_nodes(b, e)]) for b, e in plan]


def root_from_nodes(size: int, get: Callable[[Iterable[NodeId]], Mapping[NodeId, bytes]]
                    ) -> bytes:
    """MTH of the first ``size`` leaves from stored nodes (EMPTY_ROOT for size 0)."""
    if size == 0:
        return EMPTY_ROOT
    ids = range_nodes(0, size)
    nodes = get(ids)
    return fold([nodes[n] for n in ids])


# --- in-memory trees (the pure public functions) --------------------------------------------


def _levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def _memory(leaves: Sequence[bytes]) -> Callable[[Iterable[NodeId]], dict[NodeId, bytes]]:
    levels = _levels([leaf_hash(d) for d in leaves])
    return lambda ids: {(lv, i): levels[lv][i] for lv, i in ids}


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the raw entries ``leaves``; SHA-256 of the empty string for no leaves."""
    return root_from_nodes(len(leaves), _memory(leaves))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) over the raw entries ``leaves``. ValueError for a bad index."""
    plan = inclusion_plan(index, len(leaves))
    return assemble(plan, _memory(leaves)(plan_nodes(plan)))


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) over the raw entries ``leaves`` (n = len(leaves))."""
    plan = consistency_plan(old_size, len(leaves))
    return assemble(plan, _memory(leaves)(plan_nodes(plan)))


def _hashes_ok(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes | bytearray) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show that the leaf with hash ``leaf_hash`` is at
    ``index`` in the tree of ``size`` leaves whose root hash is ``root``?"""
    if not (0 <= index < size) or not _hashes_ok(leaf_hash, root, *proof):
        return False
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show that the tree of ``old_size`` leaves with root
    ``old_root`` is a prefix of the tree of ``new_size`` leaves with root ``new_root``?

    As in the transparency-dev/merkle reference verifier: equal sizes need an empty proof and
    equal roots; an empty old tree is consistent with any tree, with an empty proof."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof or not _hashes_ok(old_root, new_root, *proof):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# --- appending: the right border of the tree ------------------------------------------------


class Frontier:
    """The hashes of the complete subtrees along the right border of a tree (one per set bit
    of its size, largest first): enough to append leaves and to compute the root, and what
    the log stores as its state. ``append`` returns the nodes each new leaf completes, so
    the caller can store every complete subtree's hash."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError("frontier hashes do not match the tree size")
        self.size = size
        self.hashes = list(hashes)

    def append(self, h: bytes) -> list[tuple[NodeId, bytes]]:
        """Add the leaf with hash ``h``; the (node, hash) pairs it completes, leaf first."""
        index = self.size
        made = [((0, index), h)]
        level = 0
        while index & 1:
            h = node_hash(self.hashes.pop(), h)
            index >>= 1
            level += 1
            made.append(((level, index), h))
        self.hashes.append(h)
        self.size += 1
        return made

    def root(self) -> bytes:
        return fold(self.hashes) if self.hashes else EMPTY_ROOT

    def pack(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def unpack(cls, size: int, packed: bytes) -> Frontier:
        return cls(size, [packed[i:i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE)])
