"""The server's debunk bank: one matcher ``Bank`` per process and database, built from the
active entries and kept current without rebuilding.

A change made in this process applies at the next match after its commit (the action marks
the bank stale in an ``after_commit`` hook, so a rolled-back change never shows). Changes made
by other processes are noticed within ``QUNGUAN_RUMORS_BANK_REFRESH_SECONDS``: every entry's
``version`` grows with each change, so ``count(*)`` and ``sum(version)`` of the table change
whenever anything does, and only then are the (id, version) pairs compared and the changed
rows read. This works whatever order concurrent transactions commit in, which a "max id seen"
cursor would not.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, func, select

from qunguan.kernel.uow import UnitOfWork
from qunguan.rumors.matcher import Bank, BankEntry, Match, Verdict
from qunguan.rumors.models import DebunkEntry, DebunkPhrasing, DebunkStatus

# A claim found true gets no card: the bank keeps it so that officers see it was checked.
LABELLING_VERDICTS = frozenset({Verdict.FALSE, Verdict.MISLEADING, Verdict.UNVERIFIED})
# Members are told retroactively only of claims found false or misleading (CR-8): an
# "unverified" note on an old message is not worth a notification to everyone who saw it.
CORRECTING_VERDICTS = frozenset({Verdict.FALSE, Verdict.MISLEADING})
CARD_CLAIM_CHARS = 120
CARD_REFUTATION_CHARS = 200
_READ_CHUNK = 500


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card(entry: DebunkEntry) -> dict[str, Any]:
    """The debunk card shown on a message: verdict, a short refutation, the source."""
    return {"debunk_id": entry.id, "version": entry.version, "verdict": entry.verdict,
            "claim": _short(entry.claim, CARD_CLAIM_CHARS),
            "refutation": _short(entry.refutation, CARD_REFUTATION_CHARS),
            "publisher": entry.publisher, "source_url": entry.source_url,
            "published_on": entry.published_on.isoformat() if entry.published_on else None}


def _bank_entry(row: DebunkEntry, phrasings: Mapping[int, list[DebunkPhrasing]]) -> BankEntry:
    return BankEntry(id=str(row.id), claim=row.claim, debunk_text=row.refutation,
                     verdict=Verdict(row.verdict), source_url=row.source_url or "",
                     language=row.language,
                     phrasings=tuple(p.text for p in phrasings.get(row.id, ())))


def phrasings_for(uow: UnitOfWork, debunk_ids: list[int]) -> dict[int, list[DebunkPhrasing]]:
    """The active phrasings of these entries, oldest first (every id a key)."""
    out: dict[int, list[DebunkPhrasing]] = {i: [] for i in debunk_ids}
    for start in range(0, len(debunk_ids), _READ_CHUNK):
        for row in uow.session.scalars(select(DebunkPhrasing).where(
                DebunkPhrasing.debunk_id.in_(debunk_ids[start:start + _READ_CHUNK]),
                DebunkPhrasing.retired_at.is_(None)).order_by(DebunkPhrasing.id)):
            out[row.debunk_id].append(row)
    return out


@dataclass(frozen=True)
class Found:
    """A match of the live bank with the card of its entry."""

    match: Match
    card: dict[str, Any]

    @property
    def debunk_id(self) -> int:
        return int(self.match.debunk_id)

    @property
    def score(self) -> float:
        return self.match.score


class LiveBank:
    """The matcher over the active entries of one database. ``Bank`` is not thread-safe, and
    requests match from many threads: one lock covers matching and applying changes (a match
    costs well under a millisecond; see BENCHMARKS.md). Database reads happen outside it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bank = Bank()
        self._versions: dict[int, int] = {}  # every row seen, retired ones included
        self._cards: dict[str, dict[str, Any]] = {}
        self._signature: tuple[int, int] | None = None
        self._checked_at = -math.inf
        self._changes = 0  # bumped by a commit of this process that changed the bank

    @property
    def thresholds(self) -> Any:
        return self._bank.thresholds

    def __len__(self) -> int:
        return len(self._bank)

    def mark_stale(self) -> None:
        with self._lock:
            self._changes += 1

    def refresh(self, uow: UnitOfWork, *, force: bool = False) -> None:
        with self._lock:
            changes = self._changes
            due = force or changes or \
                time.monotonic() - self._checked_at >= uow.settings.rumors_bank_refresh_seconds
        if not due:
            return
        now = time.monotonic()
        count, total = uow.session.execute(select(
            func.count(), func.coalesce(func.sum(DebunkEntry.version), 0))
            .select_from(DebunkEntry)).one()
        signature = (int(count), int(total))
        rows: list[DebunkEntry] = []
        if signature != self._signature:
            with self._lock:
                known = dict(self._versions)
            changed = [i for i, v in uow.session.execute(
                select(DebunkEntry.id, DebunkEntry.version)) if known.get(i) != v]
            for start in range(0, len(changed), _READ_CHUNK):
                rows.extend(uow.session.scalars(select(DebunkEntry).where(
                    DebunkEntry.id.in_(changed[start:start + _READ_CHUNK]))))
        phrasings = phrasings_for(
            uow, [r.id for r in rows if r.status == DebunkStatus.ACTIVE])
        with self._lock:
            self._apply(rows, phrasings)
            self._signature = signature
            self._checked_at = now
            # A commit that landed while we read is picked up by the next call.
            self._changes -= changes

    def _apply(self, rows: list[DebunkEntry],
               phrasings: Mapping[int, list[DebunkPhrasing]]) -> None:
        fresh = [r for r in rows if r.version > self._versions.get(r.id, 0)]
        if not self._versions and fresh:  # first load: one bulk build
            active = [r for r in fresh if r.status == DebunkStatus.ACTIVE]
            self._bank = Bank([_bank_entry(r, phrasings) for r in active],
                              self._bank.thresholds)
            self._cards = {str(r.id): card(r) for r in active}
        else:
            for row in fresh:
                if row.status == DebunkStatus.ACTIVE:
                    self._bank.add(_bank_entry(row, phrasings))
                    self._cards[str(row.id)] = card(row)
                else:
                    self._bank.retire(str(row.id))
                    self._cards.pop(str(row.id), None)
        for row in fresh:
            self._versions[row.id] = row.version

    def match(self, text: str, top: int = 5) -> list[Found]:
        """The best active entries for a text, best first, with their cards."""
        with self._lock:
            matches = self._bank.match(text, top)
            return [Found(m, self._cards[m.debunk_id]) for m in matches]

    def best(self, text: str) -> Found | None:
        """The best entry that earns a card (a claim found true earns none), if any reaches
        the suggestion threshold."""
        for found in self.match(text, top=3):
            if found.score < self.thresholds.suggest:
                return None
            if found.card["verdict"] in LABELLING_VERDICTS:
                return found
        return None


_LIVE: weakref.WeakKeyDictionary[Engine, LiveBank] = weakref.WeakKeyDictionary()
_LIVE_LOCK = threading.Lock()


def _engine(uow: UnitOfWork) -> Engine:
    bind = uow.session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def live_bank(uow: UnitOfWork, *, fresh: bool = False) -> LiveBank:
    """This process's bank for the uow's database, refreshed when due (``fresh``: now)."""
    engine = _engine(uow)
    with _LIVE_LOCK:
        live = _LIVE.get(engine)
        if live is None:
            live = _LIVE[engine] = LiveBank()
    live.refresh(uow, force=fresh)
    return live


def changed_on_commit(uow: UnitOfWork) -> None:
    """An action changed the bank: apply it in this process as soon as it commits."""
    engine = _engine(uow)

    def stale(*_: object) -> None:
        with _LIVE_LOCK:
            live = _LIVE.get(engine)
        if live is not None:
            live.mark_stale()

    def forget(*_: object) -> None:
        # A gate in the same transaction may have read the uncommitted rows into the bank:
        # start over from the database rather than keep entries that never existed.
        with _LIVE_LOCK:
            _LIVE.pop(engine, None)

    event.listen(uow.session, "after_commit", stale, once=True)
    event.listen(uow.session, "after_rollback", forget, once=True)
