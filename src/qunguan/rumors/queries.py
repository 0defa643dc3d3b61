"""Reads of the debunk bank (officers only), and a member's own correction notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.db import newest_first
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork
from qunguan.rumors.bank import LABELLING_VERDICTS, Found, card, live_bank
from qunguan.rumors.bank import phrasings_for as phrasings_for  # the pages' and API's read
from qunguan.rumors.detector import DETECTOR_NAMES
from qunguan.rumors.matcher import Verdict
from qunguan.rumors.models import CorrectionNotice, DebunkEntry, DebunkStatus

MAX_PAGE = 200


def access_debunk(uow: UnitOfWork, *, viewer: Account, debunk_id: int) -> DebunkEntry:
    identity_queries.require_officer(viewer)
    entry = uow.session.get(DebunkEntry, debunk_id)
    if entry is None:
        raise QunguanError("not_found", "No such debunk.")
    return entry


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_debunks(uow: UnitOfWork, *, viewer: Account, q: str | None = None,
                 status: str | None = None, verdict: str | None = None,
                 before_id: int | None = None, limit: int = 50
                 ) -> tuple[list[DebunkEntry], int | None]:
    """Newest first; ``q`` searches claim, refutation and publisher (a substring, case as
    stored). Returns the page and the ``before_id`` of the next one."""
    identity_queries.require_officer(viewer)
    stmt = select(DebunkEntry)
    if status is not None:
        if status not in set(DebunkStatus):
            raise QunguanError("invalid_request", "Unknown status.",
                               fields=[{"loc": ["query", "status"], "msg": "active or retired"}])
        stmt = stmt.where(DebunkEntry.status == status)
    if verdict is not None:
        if verdict not in set(Verdict):
            raise QunguanError("invalid_request", "Unknown verdict.",
                               fields=[{"loc": ["query", "verdict"],
                                        "msg": ", ".join(v.value for v in Verdict)}])
        stmt = stmt.where(DebunkEntry.verdict == verdict)
    term = (q or "").strip()
    if term:
        pattern = _like(term)
        stmt = stmt.where(or_(DebunkEntry.claim.like(pattern, escape="\\"),
                              DebunkEntry.refutation.like(pattern, escape="\\"),
                              DebunkEntry.publisher.like(pattern, escape="\\")))
    return newest_first(uow.session, stmt, DebunkEntry.id, before_id=before_id, limit=limit,
                        max_page=MAX_PAGE)


MAX_CORRECTIONS = 200


@dataclass(frozen=True)
class Correction:
    """A correction a member was sent (CR-8): the debunk's card as it reads now, and whether
    an officer has since retired it (the notice stays, marked withdrawn)."""

    debunk_id: int
    notified_at: datetime
    notified_version: int
    card: dict[str, Any]
    withdrawn: bool


def my_corrections(uow: UnitOfWork, *, viewer: Account, limit: int = MAX_CORRECTIONS
                   ) -> tuple[list[Correction], int]:
    """The viewer's own correction notices, newest first (at most ``limit``), and how many
    there are in all. Only the viewer's: nobody reads another member's notices."""
    limit = max(1, min(limit, MAX_CORRECTIONS))
    mine = CorrectionNotice.account_id == viewer.id
    rows = uow.session.execute(
        select(CorrectionNotice, DebunkEntry)
        .join(DebunkEntry, DebunkEntry.id == CorrectionNotice.debunk_id)
        .where(mine)
        .order_by(CorrectionNotice.notified_at.desc(), CorrectionNotice.debunk_id.desc())
        .limit(limit)).all()
    total = int(uow.session.scalar(select(func.count()).select_from(CorrectionNotice)
                                   .where(mine)) or 0)
    return [Correction(n.debunk_id, n.notified_at, n.debunk_version, card(e),
                       e.status != DebunkStatus.ACTIVE) for n, e in rows], total


def suggested_debunks(uow: UnitOfWork, text: str, *, top: int = 3) -> list[Found]:
    """The live bank's best entries for a text that reach the suggestion threshold and earn a
    card (a claim found true earns none), best first: what a reviewer confirms or not."""
    live = live_bank(uow)
    return [f for f in live.match(text, top=top)
            if f.score >= live.thresholds.suggest and f.card["verdict"] in LABELLING_VERDICTS]


def rules_outside_rumours(labels: object) -> list[str]:
    """The rules of a message's screening labels that no rumour detector raised (personal
    data, confidentiality, conduct, …), sorted: a held message with any of them must not be
    delivered by attaching a debunk card."""
    found: set[str] = set()
    for label in labels if isinstance(labels, list) else ():
        if isinstance(label, dict) and label.get("detector") \
                and label["detector"] not in DETECTOR_NAMES:
            found.add(str(label.get("rule") or label["detector"]))
    return sorted(found)
