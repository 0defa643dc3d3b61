"""Reads of the debunk bank (officers only)."""

from __future__ import annotations

from sqlalchemy import or_, select

from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.db import newest_first
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork
from qunguan.rumors.matcher import Verdict
from qunguan.rumors.models import DebunkEntry, DebunkStatus

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
