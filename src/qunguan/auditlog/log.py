"""The stored Merkle log: the sequencer that appends committed audit records as leaves, and
the reads that build roots and proofs from stored nodes.

Order. Leaves are appended in audit-record id order, in batches, each batch one transaction
that writes the leaves, the hashes of the subtrees they complete and the new state row. A
record is appended once every record with a smaller id has committed or rolled back:

- SQLite serialises writers, so ids are assigned in commit order and the highest id seen is
  a safe horizon.
- On PostgreSQL ids come from a sequence while transactions commit in any order. The
  sequencer first takes ``LOCK TABLE audit_records IN SHARE ROW EXCLUSIVE MODE`` in a
  transaction of its own: the lock waits for every transaction that is inserting records and
  is released at once, after reading the highest id; every smaller id is then settled.
  Sequencers serialise on the state row (``FOR UPDATE``).

Durability. A batch commits as one transaction; a crash loses at most the batch in flight,
whose records are appended by the next pass. Nothing is acknowledged before its commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from qunguan.auditlog import leaves, merkle
from qunguan.auditlog.merkle import Frontier, NodeId
from qunguan.auditlog.models import LogLeaf, LogState
from qunguan.kernel.models import AuditRecord

LEVEL_SHIFT = 40
RECORD_COLUMNS = (AuditRecord.id, AuditRecord.event_type, AuditRecord.occurred_at,
                  AuditRecord.acting_id, AuditRecord.subject_type, AuditRecord.subject_id,
                  AuditRecord.group_id, AuditRecord.source_ip, AuditRecord.source_port,
                  AuditRecord.client_fingerprint, AuditRecord.request_id, AuditRecord.extra)


def node_key(level: int, index: int) -> int:
    return level << LEVEL_SHIFT | index


def state(session: Session, *, lock: bool = False, now: datetime | None = None) -> LogState:
    """The state row (created, empty, on first use; ``now`` is needed then)."""
    # populate_existing: another process (or a bulk update) may have moved the state on
    stmt = select(LogState).where(LogState.id == 1).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        if now is None:
            raise LookupError("the audit log has no state yet")
        # two first sequencers may race to create it: the second one's insert does nothing
        dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" \
            else sqlite_insert
        session.execute(dialect_insert(LogState).values(
            id=1, tree_size=0, frontier=b"", root_hash=merkle.EMPTY_ROOT, last_record_id=0,
            updated_at=now).on_conflict_do_nothing(index_elements=["id"]))
        row = session.scalar(stmt)
        assert row is not None
    return row


def horizon(session: Session) -> int:
    """The highest audit record id below which no transaction can still add a record. Ends
    the session's transaction (on PostgreSQL it holds a table lock for an instant)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL lock_timeout = '2s'"))
        session.execute(text("LOCK TABLE audit_records IN SHARE ROW EXCLUSIVE MODE"))
    top = session.scalar(select(func.max(AuditRecord.id))) or 0
    session.commit()
    return int(top)


def sequence_batch(session: Session, *, upto: int, limit: int, now: datetime) -> int:
    """Append up to ``limit`` records with ids up to ``upto`` in this session's transaction
    (the caller commits). Returns how many were appended."""
    st = state(session, lock=True, now=now)
    rows = session.connection().execute(
        select(*RECORD_COLUMNS)
        .where(AuditRecord.id > st.last_record_id, AuditRecord.id <= upto)
        .order_by(AuditRecord.id).limit(limit)).all()
    if not rows:
        return 0
    frontier = Frontier.unpack(st.tree_size, st.frontier)
    leaf_rows: list[tuple[object, ...]] = []
    node_rows: list[tuple[object, ...]] = []
    for r in rows:
        content = leaves.content_sha256(leaves.content_of(r))
        made = frontier.append(merkle.leaf_hash(leaves.leaf_entry(r, content)))
        (_, index), h = made[0]
        leaf_rows.append((index, r.id, h, content))
        node_rows.extend((node_key(level, i), nh) for (level, i), nh in made[1:])
    insert_rows(session, "auditlog_leaves", ("leaf_index", "record_id", "leaf_hash",
                                            "content_sha256"), leaf_rows)
    insert_rows(session, "auditlog_nodes", ("node_id", "hash"), node_rows)
    session.execute(update(LogState).where(LogState.id == 1).values(
        tree_size=frontier.size, frontier=frontier.pack(), root_hash=frontier.root(),
        last_record_id=rows[-1].id, updated_at=now))
    return len(rows)


def insert_rows(session: Session, table: str, columns: tuple[str, ...],
                rows: list[tuple[object, ...]]) -> None:
    """Straight to the driver: the log's rows are plain integers and bytes, and the ORM's
    per-row work was most of an append's cost. PostgreSQL takes them by COPY (half the
    sequencer's time went to executemany's round trips), SQLite by one executemany."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join(["?"] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 (our names)
    connection.exec_driver_sql(sql, rows)


# --- reads ----------------------------------------------------------------------------------


def fetch_nodes(session: Session, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
    """Stored hashes of complete subtrees: leaves from auditlog_leaves, the rest from
    auditlog_nodes. KeyError-free only for nodes that exist (callers check sizes first)."""
    ids = set(ids)
    out: dict[NodeId, bytes] = {}
    conn = session.connection()
    # Straight to the driver: a proof is at most two nodes per level, and compiling an
    # expanding IN per call cost more than the lookups. The ids are ints we computed.
    leaf_ids = ",".join(str(int(i)) for lv, i in ids if lv == 0)
    if leaf_ids:
        for index, h in conn.exec_driver_sql(
                f"SELECT leaf_index, leaf_hash FROM auditlog_leaves "  # noqa: S608 (ints)
                f"WHERE leaf_index IN ({leaf_ids})"):
            out[(0, index)] = bytes(h)
    keys = {node_key(lv, i): (lv, i) for lv, i in ids if lv > 0}
    if keys:
        for key, h in conn.exec_driver_sql(
                f"SELECT node_id, hash FROM auditlog_nodes "  # noqa: S608 (ints)
                f"WHERE node_id IN ({','.join(str(int(k)) for k in keys)})"):
            out[keys[key]] = bytes(h)
    missing = ids - set(out)
    if missing:
        raise LookupError(f"stored tree is missing nodes {sorted(missing)[:5]}")
    return out


def root_at(session: Session, size: int) -> bytes:
    return merkle.root_from_nodes(size, lambda ids: fetch_nodes(session, ids))


def inclusion(session: Session, index: int, size: int) -> list[bytes]:
    plan = merkle.inclusion_plan(index, size)
    return merkle.assemble(plan, fetch_nodes(session, merkle.plan_nodes(plan)))


def consistency(session: Session, old_size: int, new_size: int) -> list[bytes]:
    plan = merkle.consistency_plan(old_size, new_size)
    return merkle.assemble(plan, fetch_nodes(session, merkle.plan_nodes(plan)))


@dataclass(frozen=True)
class LoggedRecord:
    """A leaf and the record it logs as stored now (``record`` None: the row is gone)."""

    leaf_index: int
    record_id: int
    leaf_hash: bytes
    content_sha256: bytes
    record: leaves.RecordLike | None


def logged_records(session: Session, *, start: int = 0, stop: int | None = None,
                   chunk: int = 5000) -> Iterator[LoggedRecord]:
    """Leaves in order with the current rows of their records, streamed in chunks."""
    while stop is None or start < stop:
        upper = start + chunk if stop is None else min(start + chunk, stop)
        rows = session.execute(
            select(LogLeaf.leaf_index, LogLeaf.record_id, LogLeaf.leaf_hash,
                   LogLeaf.content_sha256, *RECORD_COLUMNS)
            .outerjoin(AuditRecord, AuditRecord.id == LogLeaf.record_id)
            .where(LogLeaf.leaf_index >= start, LogLeaf.leaf_index < upper)
            .order_by(LogLeaf.leaf_index)).all()
        if not rows:
            return
        for r in rows:
            yield LoggedRecord(r.leaf_index, r.record_id, r.leaf_hash, r.content_sha256,
                               r if r.id is not None else None)
        start = upper
