"""Screening API for officers: the active policy pack, its versions, and the rule hits
(shadow rules included, which is how a rule is tried on live traffic before enforcing)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qunguan.identity import CurrentAccount
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.web import UowDep
from qunguan.screening import queries
from qunguan.screening.schemas import HitPage, HitPublic, PolicyPublic, PolicyVersionPublic

router = APIRouter(prefix="/api", tags=["screening"])

OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/officer/policy", response_model=PolicyPublic)
def active_policy(uow: UowDep, me: CurrentAccount) -> PolicyPublic:
    return PolicyPublic.model_validate(queries.active_policy(uow, viewer=me))


@router.get("/officer/policy/versions", response_model=list[PolicyVersionPublic])
def policy_versions(uow: UowDep, me: CurrentAccount) -> list[PolicyVersionPublic]:
    return [PolicyVersionPublic.model_validate(r, from_attributes=True)
            for r in queries.policy_versions(uow, viewer=me)]


@router.get("/officer/policy/hits", response_model=HitPage)
def list_hits(uow: UowDep, me: CurrentAccount,
              rule: Annotated[str | None, Query(max_length=64)] = None,
              mode: Annotated[str | None, Query(max_length=16)] = None,
              group_id: OptionalId = None, message_id: OptionalId = None,
              before_id: OptionalId = None,
              limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 100) -> HitPage:
    rows, next_before = queries.list_hits(uow, viewer=me, rule=rule, mode=mode,
                                          group_id=group_id, message_id=message_id,
                                          before_id=before_id, limit=limit)
    return HitPage(items=[HitPublic.model_validate(r, from_attributes=True) for r in rows],
                   next_before_id=next_before)
