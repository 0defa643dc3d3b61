"""qunguan.auditlog.merkle against the published vectors of transparency-dev/merkle (see
merkle_vectors.json for the source files and commits) and against brute force.

The corruptions are those of verify_test.go's corruptInclusionProof/corruptConsistencyProof:
every one of them must be rejected."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from qunguan.auditlog import merkle
from qunguan.auditlog.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

V: dict[str, Any] = json.loads((Path(__file__).parent / "merkle_vectors.json").read_text())
LEAVES = [bytes.fromhex(x) for x in V["leaves"]]
ROOTS = [bytes.fromhex(x) for x in V["roots"]]
SOME = bytes.fromhex(V["some_hash"])
EMPTY = bytes.fromhex(V["empty_tree_hash"])


def _h(xs: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in xs]


def test_roots_of_sizes_0_to_8() -> None:
    assert EMPTY == ROOTS[0] == merkle.EMPTY_ROOT
    for size in range(9):
        assert root_hash(LEAVES[:size]) == ROOTS[size], size


def test_node_hashes_of_the_reference_tree() -> None:
    nodes = V["node_hashes"]
    for i, data in enumerate(LEAVES):
        assert leaf_hash(data).hex() == nodes[0][i]
    for level in range(1, 4):
        for i, want in enumerate(nodes[level]):
            span = LEAVES[i << level:(i + 1) << level]
            assert root_hash(span).hex() == want


def test_frontier_appends_give_every_root_and_node() -> None:
    f = merkle.Frontier()
    made: dict[tuple[int, int], str] = {}
    for size, data in enumerate(LEAVES, start=1):
        for node, h in f.append(leaf_hash(data)):
            made[node] = h.hex()
        assert f.root() == ROOTS[size]
        again = merkle.Frontier.unpack(f.size, f.pack())
        assert again.root() == ROOTS[size]
    for level, row in enumerate(V["node_hashes"]):
        for i, want in enumerate(row):
            assert made[(level, i)] == want


def _inclusion_corruptions(index: int, size: int, proof: list[bytes], root: bytes,
                           lh: bytes) -> list[tuple[str, tuple[Any, ...]]]:
    out: list[tuple[str, tuple[Any, ...]]] = [
        ("leafIndex - 1", (lh, index - 1, size, proof, root)),
        ("leafIndex + 1", (lh, index + 1, size, proof, root)),
        ("leafIndex ^ 2", (lh, index ^ 2, size, proof, root)),
        ("treeSize * 2", (lh, index, size * 2, proof, root)),
        ("treeSize / 2", (lh, index, size // 2, proof, root)),
        ("wrong leaf", (b"WrongLeaf", index, size, proof, root)),
        ("empty root", (lh, index, size, proof, EMPTY)),
        ("random root", (lh, index, size, proof, SOME)),
        ("trailing garbage", (lh, index, size, [*proof, b""], root)),
        ("trailing root", (lh, index, size, [*proof, root], root)),
        ("preceding garbage", (lh, index, size, [b"", *proof], root)),
        ("preceding root", (lh, index, size, [root, *proof], root)),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        out.append((f"modified proof[{i}] bit 3", (lh, index, size, wrong, root)))
    if proof:
        out.append(("removed component", (lh, index, size, proof[:-1], root)))
    if len(proof) > 1:
        out.append(("inserted component", (lh, index, size, [proof[0], SOME, *proof[1:]],
                                           root)))
    return out


@pytest.mark.parametrize("case", V["inclusion"], ids=lambda c: f"{c['index']}:{c['size']}")
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    index, size, proof = case["index"], case["size"], _h(case["proof"])
    root, lh = ROOTS[size], leaf_hash(LEAVES[index])
    assert inclusion_proof(LEAVES[:size], index) == proof
    assert verify_inclusion(lh, index, size, proof, root)
    accepted = [desc for desc, args in _inclusion_corruptions(index, size, proof, root, lh)
                if verify_inclusion(*args)]
    assert not accepted, f"corrupted proofs accepted: {accepted}"


def test_inclusion_single_entry_and_probes() -> None:
    h = leaf_hash(b"data")
    values = {"H": h, "": b""}
    for case in V["inclusion_single_entry"]:
        ok = verify_inclusion(values[case["leaf"]], 0, 1, [], values[case["root"]])
        assert ok is case["valid"], case
    for index, size in V["inclusion_probes"]:
        assert not verify_inclusion(SOME, index, size, [], b"")
        assert not verify_inclusion(b"", index, size, [], EMPTY)
        assert not verify_inclusion(SOME, index, size, [], EMPTY)


def _consistency_corruptions(s1: int, s2: int, r1: bytes, r2: bytes, proof: list[bytes]
                             ) -> list[tuple[str, tuple[Any, ...]]]:
    out: list[tuple[str, tuple[Any, ...]]] = [
        ("size1 - 1", (s1 - 1, s2, r1, r2, proof)),
        ("size1 + 1", (s1 + 1, s2, r1, r2, proof)),
        ("size1 ^ 2", (s1 ^ 2, s2, r1, r2, proof)),
        ("size2 * 2", (s1, s2 * 2, r1, r2, proof)),
        ("size2 / 2", (s1, s2 // 2, r1, r2, proof)),
        ("wrong root1", (s1, s2, b"WrongRoot", r2, proof)),
        ("wrong root2", (s1, s2, r1, b"WrongRoot", proof)),
        ("swapped roots", (s1, s2, r2, r1, proof)),
        ("empty proof", (s1, s2, r1, r2, [])),
        ("trailing garbage", (s1, s2, r1, r2, [*proof, b""])),
        ("trailing root1", (s1, s2, r1, r2, [*proof, r1])),
        ("trailing root2", (s1, s2, r1, r2, [*proof, r2])),
        ("preceding garbage", (s1, s2, r1, r2, [b"", *proof])),
        ("preceding root1", (s1, s2, r1, r2, [r1, *proof])),
        ("preceding root2", (s1, s2, r1, r2, [r2, *proof])),
        ("preceding proof[0]", (s1, s2, r1, r2, [proof[0], *proof])),
        ("truncated proof", (s1, s2, r1, r2, proof[:-1])),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        out.append((f"modified proof[{i}] bit 4", (s1, s2, r1, r2, wrong)))
    return out


@pytest.mark.parametrize("case", V["consistency"], ids=lambda c: f"{c['size1']}:{c['size2']}")
def test_consistency_vectors(case: dict[str, Any]) -> None:
    s1, s2, proof = case["size1"], case["size2"], _h(case["proof"])
    r1, r2 = ROOTS[s1], ROOTS[s2]
    assert consistency_proof(LEAVES[:s2], s1) == proof
    assert verify_consistency(s1, s2, r1, r2, proof)
    if not proof:
        return  # as in verify_test.go: only non-trivial proofs are corrupted
    accepted = [desc for desc, args in _consistency_corruptions(s1, s2, r1, r2, proof)
                if verify_consistency(*args)]
    assert not accepted, f"corrupted proofs accepted: {accepted}"


def test_consistency_edge_table() -> None:
    values = {"r1": b"don't care 1", "r2": b"don't care 2", "E": EMPTY}
    for case in V["consistency_table"]:
        ok = verify_consistency(case["size1"], case["size2"], values[case["root1"]],
                                values[case["root2"]], [values[p] for p in case["proof"]])
        assert ok is case["valid"], case


def test_every_proof_of_small_trees_verifies_and_corruptions_fail() -> None:
    rng = random.Random(6)
    entries = [str(i).encode() for i in range(40)]
    roots = [root_hash(entries[:n]) for n in range(41)]
    for size in range(1, 41):
        for index in range(size):
            proof = inclusion_proof(entries[:size], index)
            lh = leaf_hash(entries[index])
            assert verify_inclusion(lh, index, size, proof, roots[size])
            assert not verify_inclusion(lh, (index + 1) % size if size > 1 else 1, size, proof,
                                        roots[size])
        for old in range(0, size + 1):
            proof = consistency_proof(entries[:size], old)
            assert verify_consistency(old, size, roots[old], roots[size], proof)
            if proof:
                bad = list(proof)
                i = rng.randrange(len(bad))
                bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
                assert not verify_consistency(old, size, roots[old], roots[size], bad)


def test_bad_arguments_to_the_provers() -> None:
    with pytest.raises(ValueError, match="not below tree size"):
        inclusion_proof(LEAVES, 8)
    with pytest.raises(ValueError, match="old size"):
        consistency_proof(LEAVES, 9)
