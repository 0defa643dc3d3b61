"""What ``qunguan audit`` keeps per message, on disk instead of in memory: the flagged
messages shown in the report with their context, the recalled ids, the red-envelope records
and the rumour copies. Each of these grows with the archive (a flagged message here, an
envelope there), so holding them in lists made the main process grow with the number of
messages; here they go to a private temporary SQLite database (SQLite's empty file name: on
disk, never named, deleted when closed) whose page cache is bounded (``CACHE_KIB``).

The report reads the examples back group by group, the vote-buying detectors get the envelope
records as a sequence read in time order, and clustering reads the rumour copies back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from qunguan.importers.elections import EnvelopeRecord
from qunguan.rumors.cascades import Message

# SQLite's page cache for the spill, in KiB: what the spilled state costs in memory, however
# large the archive.
CACHE_KIB = 4096
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCHEMA = """
CREATE TABLE examples (grp TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL,
                       body TEXT NOT NULL, PRIMARY KEY (grp, seq));
CREATE TABLE recalled (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE envelopes (us INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
                        grp TEXT NOT NULL, sender TEXT NOT NULL, ts TEXT NOT NULL,
                        amount_fen INTEGER, parts INTEGER);
CREATE TABLE copies (us INTEGER NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL,
                     ts TEXT NOT NULL, grp TEXT NOT NULL, sender TEXT NOT NULL,
                     debunk TEXT NOT NULL);
CREATE INDEX copies_id ON copies (id);
"""

_SELECT_ENVELOPES = "SELECT id, kind, grp, sender, ts, amount_fen, parts FROM envelopes_sorted"


def _micros(ts: datetime) -> int:
    """The instant as an integer, so SQL orders times exactly as ``datetime`` compares them
    (the importers' times are all timezone-aware)."""
    return (ts - _EPOCH) // timedelta(microseconds=1)


class Spill:
    """One audit's spilled state. Writes go into one open transaction (nothing to recover: the
    database dies with the run); reads first commit it."""

    def __init__(self, cache_kib: int = CACHE_KIB) -> None:
        self.db = sqlite3.connect("")
        self.db.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA temp_store = FILE")
        self.db.executescript(_SCHEMA)
        self._sorted = False

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- flagged messages shown in context ----------------------------------------------

    def add_example(self, group: str, seq: int, example: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO examples VALUES (?, ?, ?, ?)",
                        (group, seq, example["id"],
                         json.dumps(example, ensure_ascii=False, separators=(",", ":"))))

    def examples(self, group: str) -> Iterator[dict[str, Any]]:
        """The group's examples in the order they were flagged, each with ``recalled``."""
        self.db.commit()
        rows = self.db.execute(
            "SELECT e.body, r.id IS NOT NULL FROM examples e LEFT JOIN recalled r ON r.id = e.id "
            "WHERE e.grp = ? ORDER BY e.seq", (group,))
        for body, recalled in rows:
            example: dict[str, Any] = json.loads(body)
            example["recalled"] = bool(recalled)
            yield example

    def add_recalled(self, message_id: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO recalled VALUES (?)", (message_id,))

    # --- red envelopes ------------------------------------------------------------------

    def add_envelope(self, r: EnvelopeRecord) -> None:
        self._sorted = False
        self.db.execute("INSERT INTO envelopes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (_micros(r.ts), r.id, r.kind, r.group, r.sender, r.ts.isoformat(),
                         r.amount_fen, r.parts))

    def envelopes(self, group_members: Mapping[str, int]) -> EnvelopeRecords:
        """The envelope records in time order (then id), each with its group's member count,
        read from disk as they are used."""
        if not self._sorted:
            # Numbered in time order, so the sequence reads its i-th record by key.
            self.db.executescript(
                "DROP TABLE IF EXISTS envelopes_sorted;"
                "CREATE TABLE envelopes_sorted (seq INTEGER PRIMARY KEY, id TEXT, kind TEXT, "
                "grp TEXT, sender TEXT, ts TEXT, amount_fen INTEGER, parts INTEGER);"
                "INSERT INTO envelopes_sorted (id, kind, grp, sender, ts, amount_fen, parts) "
                "SELECT id, kind, grp, sender, ts, amount_fen, parts FROM envelopes "
                "ORDER BY us, id;")
            self._sorted = True
        self.db.commit()
        return EnvelopeRecords(self.db, group_members)

    # --- rumour copies ------------------------------------------------------------------

    def add_copy(self, m: Message, debunk_id: str) -> None:
        self.db.execute("INSERT INTO copies VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (_micros(m.ts), m.id, m.text, m.ts.isoformat(), m.group, m.sender,
                         debunk_id))

    def copies(self) -> Iterator[tuple[Message, str]]:
        """Each rumour copy in the order it was added, with the bank entry matched by the
        last copy of that id (as a dict by id would say, should an export repeat an id)."""
        self.db.commit()
        for id_, text, ts, group, sender, debunk in self.db.execute(
                "SELECT c.id, c.text, c.ts, c.grp, c.sender, (SELECT d.debunk FROM copies d "
                "WHERE d.id = c.id ORDER BY d.rowid DESC LIMIT 1) FROM copies c ORDER BY c.rowid"):
            yield Message(id_, text, datetime.fromisoformat(ts), group, sender, None), debunk


class EnvelopeRecords(Sequence[EnvelopeRecord]):
    """The spilled envelope records as a read-only sequence in time order; each read goes to
    disk, so a detector that walks them holds only what it keeps."""

    def __init__(self, db: sqlite3.Connection, group_members: Mapping[str, int]) -> None:
        self._db = db
        self._members = group_members
        (self._len,) = db.execute("SELECT count(*) FROM envelopes_sorted").fetchone()

    def __len__(self) -> int:
        return int(self._len)

    def _record(self, row: tuple[Any, ...]) -> EnvelopeRecord:
        id_, kind, group, sender, ts, amount_fen, parts = row
        return EnvelopeRecord(id_, kind, group, sender, datetime.fromisoformat(ts), amount_fen,
                              parts, self._members.get(group, 0))

    @overload
    def __getitem__(self, index: int) -> EnvelopeRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[EnvelopeRecord]: ...

    def __getitem__(self, index: int | slice) -> EnvelopeRecord | list[EnvelopeRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        i = index + self._len if index < 0 else index
        if not 0 <= i < self._len:
            raise IndexError(index)
        row = self._db.execute(_SELECT_ENVELOPES + " WHERE seq = ?", (i + 1,)).fetchone()
        return self._record(row)

    def __iter__(self) -> Iterator[EnvelopeRecord]:
        for row in self._db.execute(_SELECT_ENVELOPES + " ORDER BY seq"):
            yield self._record(row)

