"""Exports of the log and their offline verification.

An export is JSON Lines (UTF-8):

- line 1, the header: ``{"format": "qunguan-auditlog-export", "version": 1, "origin": ...,
  "tree_size": N}``;
- one line per leaf, in order: ``{"i": leaf index, "r": record id, "h": hex of the leaf hash
  as appended, "leaf": the leaf entry (canonical JSON text, see leaves.py) re-derived from
  the record as stored now, or null when the record is gone, "content": the canonical JSON
  text of the record's content, or null}``;
- a last line ``{"end": true, "count": N}``, so a truncated file is recognised.

``verify_export`` needs only the file, signed checkpoints and the verifier keys: no database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy.orm import Session

from qunguan.auditlog import leaves, merkle
from qunguan.auditlog import log as store
from qunguan.auditlog.notes import CheckpointInfo, NoteError, Verifier, open_checkpoint

FORMAT = "qunguan-auditlog-export"


def write_export(session: Session, out: IO[str], *, origin: str, tree_size: int) -> int:
    """Write the first ``tree_size`` leaves with their records; returns the count."""
    out.write(json.dumps({"format": FORMAT, "version": 1, "origin": origin,
                          "tree_size": tree_size}) + "\n")
    count = 0
    for lr in store.logged_records(session, stop=tree_size):
        leaf = content = None
        if lr.record is not None:
            leaf = leaves.leaf_entry(lr.record, lr.content_sha256).decode()
            content = leaves.canonical_json(leaves.content_of(lr.record)).decode()
        out.write(json.dumps({"i": lr.leaf_index, "r": lr.record_id, "h": lr.leaf_hash.hex(),
                              "leaf": leaf, "content": content}, ensure_ascii=False) + "\n")
        count += 1
        if count % 5000 == 0:
            session.rollback()  # short read transactions (SQLite holds the write lock)
    session.rollback()
    out.write(json.dumps({"end": True, "count": count}) + "\n")
    return count


class ExportError(ValueError):
    """The export or a checkpoint cannot be read at all; the message says what failed."""


@dataclass
class Report:
    records: int = 0
    checkpoints: list[CheckpointInfo] = field(default_factory=list)
    verified_size: int = 0  # leaves covered by a verified checkpoint
    problems: list[str] = field(default_factory=list)
    purged: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> str | None:
        return self.problems[0] if self.problems else None


def load_checkpoints(texts: Iterable[str], verifiers: list[Verifier]) -> list[CheckpointInfo]:
    """Verify each signed checkpoint; ExportError naming the first that fails."""
    out = []
    for n, note in enumerate(texts, start=1):
        try:
            out.append(open_checkpoint(note, verifiers))
        except NoteError as exc:
            raise ExportError(f"checkpoint {n}: {exc}") from None
    return out


def _parse(line: str, n: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ExportError(f"line {n}: not JSON ({exc.msg}); the export is malformed or "
                          "truncated") from None
    if not isinstance(obj, dict):
        raise ExportError(f"line {n}: not a JSON object")
    return obj


def verify_export(lines: Iterable[str], checkpoints: list[CheckpointInfo],
                  max_problems: int = 100) -> Report:
    """Check every record of an export against the signed checkpoints.

    The leaf hashes as appended must fold to the root of every checkpoint (so they are the
    ones that were signed); then each record's leaf, re-derived now, must hash to its leaf
    hash, and its content to the leaf's content hash (purged content is reported, not a
    failure). Problems name the first record that does not verify. ExportError when the file
    itself cannot be read (malformed, truncated, wrong origin)."""
    report = Report(checkpoints=sorted(checkpoints, key=lambda c: c.size))
    it: Iterator[str] = iter(lines)
    header = _parse(next(it, ""), 1)
    if header.get("format") != FORMAT or header.get("version") != 1:
        raise ExportError("line 1: not a qunguan audit log export header")
    size = header.get("tree_size")
    if not isinstance(size, int) or size < 0:
        raise ExportError("line 1: the header has no valid tree_size")
    if not report.checkpoints:
        raise ExportError("no checkpoint given: nothing to verify against")
    for cp in report.checkpoints:
        if cp.origin != header.get("origin"):
            raise ExportError(f"checkpoint of size {cp.size} is for origin {cp.origin!r}, the "
                              f"export for {header.get('origin')!r}")
        if cp.size > size:
            raise ExportError(f"checkpoint of size {cp.size} is beyond the export's {size} "
                              "records")
    by_size = {cp.size: cp for cp in report.checkpoints}
    for a, b in zip(report.checkpoints, report.checkpoints[1:], strict=False):
        if a.size == b.size and a.root != b.root:
            raise ExportError(f"two checkpoints of size {a.size} disagree: the log forked")
    frontier = merkle.Frontier()
    last_good = 0
    ended = False
    n = 1
    for n, line in enumerate(it, start=2):
        obj = _parse(line, n)
        if obj.get("end") is True:
            if obj.get("count") != frontier.size or frontier.size != size:
                raise ExportError(f"line {n}: the end line counts {obj.get('count')} records, "
                                  f"the file has {frontier.size} and its header says {size}")
            ended = True
            break
        index, record_id, hexhash = obj.get("i"), obj.get("r"), obj.get("h")
        if index != frontier.size:
            raise ExportError(f"line {n}: leaf index {index!r} where {frontier.size} was due: "
                              "the export is reordered or has gaps")
        try:
            logged = bytes.fromhex(hexhash) if isinstance(hexhash, str) else b""
        except ValueError:
            logged = b""
        if len(logged) != merkle.HASH_SIZE or not isinstance(record_id, int):
            raise ExportError(f"line {n}: leaf {index} has no valid record id and leaf hash")
        _check_record(report, obj, index, record_id, logged)
        frontier.append(logged)
        due = by_size.get(frontier.size)
        if due is not None:
            if frontier.root() == due.root:
                last_good = due.size
            else:
                report.problems.append(
                    f"leaves {last_good} to {due.size - 1} do not match the checkpoint of size "
                    f"{due.size}: a leaf hash in that range was altered, removed or reordered")
        if len(report.problems) >= max_problems:
            break
    else:
        if frontier.size < size or not ended:
            raise ExportError(f"the export is truncated after line {n}: {frontier.size} of "
                              f"{size} records and no end line")
    report.records = frontier.size
    report.verified_size = last_good
    return report


def _check_record(report: Report, obj: dict[str, Any], index: int, record_id: int,
                  logged: bytes) -> None:
    leaf, content = obj.get("leaf"), obj.get("content")
    name = f"record {record_id} (leaf {index})"
    if leaf is None:
        report.problems.append(f"{name} is missing: it was deleted")
        return
    if not isinstance(leaf, str) or merkle.leaf_hash(leaf.encode()) != logged:
        report.problems.append(f"{name} does not verify: it differs from what was logged")
        return
    try:
        fields = json.loads(leaf)
    except json.JSONDecodeError:
        report.problems.append(f"{name}: its leaf is not JSON")
        return
    if not isinstance(fields, dict) or fields.get("record_id") != record_id:
        report.problems.append(f"{name}: the leaf is of another record")
        return
    if content is None:
        report.purged += 1
        return
    if not isinstance(content, str):
        report.problems.append(f"{name}: its content is not canonical JSON text")
        return
    if hashlib.sha256(content.encode()).hexdigest() != fields.get("content_sha256"):
        try:
            purged = leaves.is_purged(json.loads(content))
        except (json.JSONDecodeError, AttributeError):
            purged = False
        if purged:
            report.purged += 1
        else:
            report.problems.append(f"{name}: its content differs from what was logged")


def verify_record_proofs(checkpoint_note: str, proofs: Iterable[dict[str, Any]],
                         verifiers: list[Verifier]) -> list[str]:
    """Offline check of inclusion proofs (``RecordProof.as_dict()`` shapes) against a signed
    checkpoint: the problems found, empty when every record is in the signed tree and its
    leaf is the one logged. For bundles that carry a checkpoint and a proof per record."""
    try:
        cp = open_checkpoint(checkpoint_note, verifiers)
    except NoteError as exc:
        return [f"checkpoint: {exc}"]
    problems = []
    for n, p in enumerate(proofs, start=1):
        try:
            leaf = str(p["leaf"]).encode()
            logged = base64.b64decode(p["leaf_hash"], validate=True)
            path = [base64.b64decode(h, validate=True) for h in p["proof"]]
            index, size, record_id = int(p["leaf_index"]), int(p["tree_size"]), p["record_id"]
        except (KeyError, TypeError, ValueError, binascii.Error):
            problems.append(f"proof {n}: malformed")
            continue
        name = f"record {record_id} (leaf {index})"
        if size != cp.size:
            problems.append(f"{name}: proof is for tree size {size}, the checkpoint {cp.size}")
        elif not merkle.verify_inclusion(logged, index, size, path, cp.root):
            problems.append(f"{name}: not in the signed tree")
        elif merkle.leaf_hash(leaf) != logged:
            problems.append(f"{name} does not verify: it differs from what was logged")
    return problems
