"""Reads of screening, for officers: the active policy pack, its versions, the rule hits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.db import newest_first
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork
from qunguan.screening.engine import active_pack
from qunguan.screening.models import PolicyPack, ScreeningHit
from qunguan.screening.policy import MODES

MAX_PAGE = 500


def active_policy(uow: UnitOfWork, *, viewer: Account) -> dict[str, Any]:
    """The pack the gate runs now: version 0 is the shipped default, never loaded."""
    identity_queries.require_officer(viewer)
    compiled = active_pack(uow)
    row = uow.session.scalar(select(PolicyPack).where(PolicyPack.version == compiled.version)) \
        if compiled.version else None
    return {"version": compiled.version, "name": compiled.name,
            "description": compiled.pack.description, "digest": compiled.digest,
            "loaded_at": row.loaded_at if row else None,
            "loaded_by": row.loaded_by if row else None,
            "lexicons": {k: len(v) for k, v in sorted(compiled.pack.lexicons.items())},
            "rules": [r.public() for r in compiled.pack.rules]}


def policy_versions(uow: UnitOfWork, *, viewer: Account) -> list[PolicyPack]:
    identity_queries.require_officer(viewer)
    return list(uow.session.scalars(select(PolicyPack).order_by(PolicyPack.version.desc())))


def list_hits(uow: UnitOfWork, *, viewer: Account, rule: str | None = None,
              mode: str | None = None, group_id: int | None = None,
              message_id: int | None = None, before_id: int | None = None,
              limit: int = 100) -> tuple[list[ScreeningHit], int | None]:
    """Newest first, filtered; returns the page and the ``before_id`` of the next one."""
    identity_queries.require_officer(viewer)
    stmt = select(ScreeningHit)
    if rule is not None:
        stmt = stmt.where(ScreeningHit.rule_id == rule)
    if mode is not None:
        if mode not in MODES:
            raise QunguanError("invalid_request", "Unknown rule mode.", fields=["mode"],
                               known=list(MODES))
        stmt = stmt.where(ScreeningHit.mode == mode)
    if group_id is not None:
        stmt = stmt.where(ScreeningHit.group_id == group_id)
    if message_id is not None:
        stmt = stmt.where(ScreeningHit.message_id == message_id)
    return newest_first(uow.session, stmt, ScreeningHit.id, before_id=before_id, limit=limit,
                        max_page=MAX_PAGE)


def hits_per_day(uow: UnitOfWork, *, viewer: Account, since: datetime
                 ) -> list[tuple[str, str, int]]:
    """Rule hits (enforced and shadow) per UTC day and rule since ``since``, for the officer
    dashboard: ``(YYYY-MM-DD, rule id, count)``, oldest day first."""
    identity_queries.require_officer(viewer)
    day = func.date(ScreeningHit.created_at)
    rows = uow.session.execute(
        select(day, ScreeningHit.rule_id, func.count()).where(ScreeningHit.created_at >= since)
        .group_by(day, ScreeningHit.rule_id).order_by(day, ScreeningHit.rule_id))
    return [(str(d), str(rule), int(n)) for d, rule, n in rows]


def active_pack_files(uow: UnitOfWork, *, viewer: Account) -> dict[str, str]:
    """The active pack's files (``{relative path: text}``), the starting point of an edit."""
    identity_queries.require_officer(viewer)
    return dict(active_pack(uow).pack.files)
