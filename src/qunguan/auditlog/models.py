"""Tables of the Merkle log: its state, the leaves (one per audit record, in log order), the
hashes of every complete subtree, and the signed checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qunguan.kernel.db import Base, IdType, UTCDateTime


class LogState(Base):
    """The one row (id 1) of the log's state, locked by the sequencer: the tree size, the
    right border of the tree (``frontier``: concatenated hashes, see merkle.Frontier), its root,
    the highest audit record id already logged, and the last self-check's outcome."""

    __tablename__ = "auditlog_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, default=0)
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    last_record_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_ok: Mapped[bool | None] = mapped_column(Boolean)
    check_message: Mapped[str | None] = mapped_column(String(2000))


class LogLeaf(Base):
    """Leaf ``leaf_index`` of the tree: which audit record it logs, the hash the leaf had when
    it was appended, and the SHA-256 of the record's content (kept here so the content can be
    purged later while the leaf still recomputes)."""

    __tablename__ = "auditlog_leaves"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_id: Mapped[int] = mapped_column(IdType, unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)
    content_sha256: Mapped[bytes] = mapped_column(LargeBinary)


class LogNode(Base):
    """The hash of a complete subtree above the leaves: ``node_id`` is level << 40 | index
    (level >= 1; leaves are in auditlog_leaves)."""

    __tablename__ = "auditlog_nodes"

    node_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class Checkpoint(Base):
    """A signed checkpoint: the C2SP signed note, and its size and root for queries."""

    __tablename__ = "auditlog_checkpoints"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
