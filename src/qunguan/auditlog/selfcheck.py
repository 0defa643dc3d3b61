"""The self-check: re-derive every logged record's leaf from the row stored now and compare it
with what was appended, rebuild the tree from the leaves and compare it with the log's state
and with every signed checkpoint. Detects a record altered, deleted, inserted among logged
ids or reordered, and leaf hashes or checkpoints altered.

Reads in short transactions (one per chunk), because on SQLite every transaction holds the
write lock; leaves below the size read at the start never change, so the chunks agree.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qunguan.auditlog import leaves, merkle
from qunguan.auditlog import log as store
from qunguan.auditlog.models import Checkpoint
from qunguan.auditlog.notes import NoteError, Verifier, open_checkpoint
from qunguan.kernel.models import AuditRecord

MAX_PROBLEMS = 100


def check_stored(session: Session, verifiers: list[Verifier], origin: str) -> list[str]:
    problems: list[str] = []
    try:
        st = store.state(session)
    except LookupError:
        session.rollback()
        return problems
    size, root, last_record = st.tree_size, st.root_hash, st.last_record_id
    checkpoints: dict[int, list[tuple[int, bytes]]] = {}
    for cp in session.scalars(select(Checkpoint).order_by(Checkpoint.id)):
        try:
            info = open_checkpoint(cp.note, verifiers, origin=origin)
        except NoteError as exc:
            problems.append(f"checkpoint {cp.id}: {exc}")
            continue
        if info.size != cp.tree_size or info.root != cp.root_hash:
            problems.append(f"checkpoint {cp.id}: stored size or root differ from its note")
        if info.size > size:
            problems.append(f"checkpoint {cp.id} covers {info.size} leaves but the log has "
                            f"only {size}: leaves were removed")
        checkpoints.setdefault(info.size, []).append((cp.id, info.root))
    logged = session.scalar(select(func.count()).select_from(AuditRecord)
                            .where(AuditRecord.id <= last_record)) or 0
    session.rollback()

    frontier = merkle.Frontier()
    previous_record = 0
    chunk_end = 0
    for lr in store.logged_records(session, stop=size):
        if lr.leaf_index != frontier.size:
            problems.append(f"leaf {frontier.size} is missing from the stored log")
            break
        if lr.record is None:
            problems.append(f"record {lr.record_id} (leaf {lr.leaf_index}) was deleted")
        else:
            entry = leaves.leaf_entry(lr.record, lr.content_sha256)
            if merkle.leaf_hash(entry) != lr.leaf_hash:
                problems.append(f"record {lr.record_id} (leaf {lr.leaf_index}) was altered "
                                "after it was logged")
            content = leaves.content_of(lr.record)
            if (not leaves.is_purged(content)
                    and leaves.content_sha256(content) != lr.content_sha256):
                problems.append(f"record {lr.record_id} (leaf {lr.leaf_index}): its content "
                                "was altered after it was logged")
        if lr.record_id <= previous_record:
            problems.append(f"leaf {lr.leaf_index} (record {lr.record_id}) is out of order")
        previous_record = lr.record_id
        frontier.append(lr.leaf_hash)
        for cp_id, cp_root in checkpoints.get(frontier.size, ()):
            if frontier.root() != cp_root:
                problems.append(f"the stored leaves do not match checkpoint {cp_id} (size "
                                f"{frontier.size}): leaf hashes were altered or reordered")
        if frontier.size >= chunk_end:
            session.rollback()  # end the chunk's read transaction
            chunk_end = frontier.size + 5000
        if len(problems) >= MAX_PROBLEMS:
            problems.append("... stopped after too many problems")
            break
    session.rollback()
    if frontier.size == size and frontier.root() != root:
        problems.append("the stored leaves do not give the log's root hash")
    if frontier.size != size and len(problems) < MAX_PROBLEMS:
        problems.append(f"the stored log has {frontier.size} leaves, its state says {size}")
    if logged != size:
        problems.append(f"{logged} audit records have logged ids but the log has {size} "
                        "leaves: records were inserted or deleted outside the log")
    return problems
