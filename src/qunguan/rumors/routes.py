"""The debunk bank API for officers: list and search, read, add, edit, retire, import; and a
member's own correction notices."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from qunguan.identity import CurrentAccount
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.rumors import actions, clusters, queries
from qunguan.rumors.bank import card
from qunguan.rumors.models import DebunkEntry
from qunguan.rumors.schemas import (
    BreakerSet,
    ClusterDetail,
    ClusterNode,
    ClusterPage,
    ClusterPublic,
    CorrectionPage,
    CorrectionPublic,
    DebunkCreate,
    DebunkImport,
    DebunkPage,
    DebunkPublic,
    DebunkRetire,
    DebunkUpdate,
    ImportResultPublic,
    PhrasingCreate,
    PhrasingPublic,
    PhrasingRetire,
)

router = APIRouter(prefix="/api", tags=["rumors"])


def _publics(uow: UnitOfWork, entries: list[DebunkEntry]) -> list[DebunkPublic]:
    phrasings = queries.phrasings_for(uow, [e.id for e in entries])
    return [DebunkPublic.model_validate({**{c: getattr(entry, c) for c in (
        "id", "claim", "verdict", "refutation", "publisher", "source_url", "published_on",
        "language", "status", "version", "added_at", "added_by", "updated_at",
        "updated_by")}, "card": card(entry),
        "phrasings": [PhrasingPublic.model_validate(p, from_attributes=True)
                      for p in phrasings[entry.id]]}) for entry in entries]


def _public(uow: UnitOfWork, entry: DebunkEntry) -> DebunkPublic:
    return _publics(uow, [entry])[0]


@router.get("/me/corrections", response_model=CorrectionPage)
def my_corrections(uow: UowDep, me: CurrentAccount,
                   limit: Annotated[int, Query(ge=1, le=queries.MAX_CORRECTIONS)] = 50
                   ) -> CorrectionPage:
    rows, total = queries.my_corrections(uow, viewer=me, limit=limit)
    return CorrectionPage(items=[CorrectionPublic(
        debunk_id=c.debunk_id, notified_at=c.notified_at, notified_version=c.notified_version,
        card=c.card, withdrawn=c.withdrawn) for c in rows], total=total)


@router.get("/officer/debunks", response_model=DebunkPage)
def list_debunks(uow: UowDep, me: CurrentAccount,
                 q: Annotated[str | None, Query(max_length=200)] = None,
                 status: Annotated[str | None, Query(max_length=16)] = None,
                 verdict: Annotated[str | None, Query(max_length=16)] = None,
                 before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                 limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50) -> DebunkPage:
    rows, next_before = queries.list_debunks(uow, viewer=me, q=q, status=status,
                                             verdict=verdict, before_id=before_id, limit=limit)
    return DebunkPage(items=_publics(uow, rows), next_before_id=next_before)


@router.post("/officer/debunks", response_model=DebunkPublic, status_code=201)
def add_debunk(body: DebunkCreate, uow: UowDep, me: CurrentAccount) -> DebunkPublic:
    return _public(uow, actions.do_add_debunk(uow, acting=me, fields=body.model_dump()))


@router.post("/officer/debunks/import", response_model=ImportResultPublic)
def import_debunks(body: DebunkImport, uow: UowDep, me: CurrentAccount) -> ImportResultPublic:
    result = actions.do_import_debunks(uow, acting=me, content=body.content, fmt=body.format,
                                       source=body.source or "upload")
    return ImportResultPublic(rows=result.rows, imported=len(result.imported),
                              ids=[e.id for e in result.imported],
                              duplicates=result.duplicates,
                              phrasings_skipped=result.phrasings_skipped)


@router.get("/officer/debunks/{debunk_id}", response_model=DebunkPublic)
def get_debunk(debunk_id: IdPath, uow: UowDep, me: CurrentAccount) -> DebunkPublic:
    return _public(uow, queries.access_debunk(uow, viewer=me, debunk_id=debunk_id))


@router.patch("/officer/debunks/{debunk_id}", response_model=DebunkPublic)
def edit_debunk(debunk_id: IdPath, body: DebunkUpdate, uow: UowDep,
                me: CurrentAccount) -> DebunkPublic:
    changes = body.model_dump(exclude_unset=True)
    expected = changes.pop("expected_version", None)
    return _public(uow, actions.do_edit_debunk(uow, acting=me, debunk_id=debunk_id,
                                               changes=changes, expected_version=expected))


@router.post("/officer/debunks/{debunk_id}/retire", response_model=DebunkPublic)
def retire_debunk(debunk_id: IdPath, body: DebunkRetire, uow: UowDep,
                  me: CurrentAccount) -> DebunkPublic:
    return _public(uow, actions.do_retire_debunk(uow, acting=me, debunk_id=debunk_id,
                                                 reason=body.reason,
                                                 expected_version=body.expected_version))


@router.post("/officer/debunks/{debunk_id}/phrasings", response_model=DebunkPublic,
             status_code=201)
def add_phrasing(debunk_id: IdPath, body: PhrasingCreate, uow: UowDep,
                 me: CurrentAccount) -> DebunkPublic:
    done = actions.do_add_phrasing(uow, acting=me, debunk_id=debunk_id, text=body.text,
                                   expected_version=body.expected_version)
    return _public(uow, done.entry)


@router.post("/officer/debunks/{debunk_id}/phrasings/{phrasing_id}/retire",
             response_model=DebunkPublic)
def retire_phrasing(debunk_id: IdPath, phrasing_id: IdPath, body: PhrasingRetire,
                    uow: UowDep, me: CurrentAccount) -> DebunkPublic:
    actions.do_retire_phrasing(uow, acting=me, debunk_id=debunk_id, phrasing_id=phrasing_id,
                               reason=body.reason)
    return _public(uow, queries.access_debunk(uow, viewer=me, debunk_id=debunk_id))


# --- content clusters and the circuit breaker ------------------------------------------------


def _cluster(stats: clusters.ClusterStats) -> ClusterPublic:
    c = stats.cluster
    return ClusterPublic(
        id=c.id, first_message_id=c.first_message_id, first_group_id=c.first_group_id,
        first_seen_at=c.first_seen_at, last_seen_at=c.last_seen_at, messages=c.messages,
        groups_reached=c.groups_reached, members_exposed=c.members_exposed, depth=c.max_hop,
        groups_first_hour=stats.groups_first_hour, breaker_state=c.breaker_state,
        breaker_max_targets=c.breaker_max_targets, breaker_changed_at=c.breaker_changed_at,
        exempt_debunk_id=c.exempt_debunk_id)


@router.get("/officer/clusters", response_model=ClusterPage)
def list_clusters(uow: UowDep, me: CurrentAccount,
                  state: Annotated[str | None, Query(max_length=16)] = None,
                  min_groups: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                  since: datetime | None = None,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                  limit: Annotated[int, Query(ge=1, le=clusters.MAX_PAGE)] = 50) -> ClusterPage:
    rows = clusters.list_clusters(uow, viewer=me, state=state, min_groups=min_groups,
                                  since=since, offset=offset, limit=limit)
    return ClusterPage(items=[_cluster(r) for r in rows],
                       next_offset=offset + len(rows) if len(rows) == limit else None)


@router.get("/officer/clusters/{cluster_id}", response_model=ClusterDetail)
def get_cluster(cluster_id: IdPath, uow: UowDep, me: CurrentAccount) -> ClusterDetail:
    stats, nodes, truncated = clusters.cluster_detail(uow, viewer=me, cluster_id=cluster_id)
    return ClusterDetail(cluster=_cluster(stats),
                         nodes=[ClusterNode.model_validate(n) for n in nodes],
                         truncated=truncated)


@router.post("/officer/clusters/{cluster_id}/breaker", response_model=ClusterPublic)
def set_breaker(cluster_id: IdPath, body: BreakerSet, uow: UowDep,
                me: CurrentAccount) -> ClusterPublic:
    cluster = clusters.do_set_breaker(uow, acting=me, cluster_id=cluster_id, state=body.state,
                                      max_targets=body.max_targets, reason=body.reason)
    return _cluster(clusters.ClusterStats(cluster, clusters.groups_first_hour(uow, cluster)))
