"""Helpers of the cluster and circuit-breaker tests: more groups for the cast, posting and
forwarding, and the cluster API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from qunguan.rumors.models import ClusterMember
from tests.cast import Person
from tests.conftest import Api, Cast, join_by_invitation
from tests.rumors.debunk_helpers import drain, uow_of

RUMOUR = "听说下周起全市停水三天，赶紧去超市囤水囤粮，晚了就来不及了，转给家人朋友"
# The same rumour re-typed with small edits: a different fingerprint, a near copy.
RUMOUR_EDITED = "听说下周起全市要停水三天，赶紧去超市囤水囤粮！晚了就来不及了，快转给家人"
UNRELATED = "明天上午九点在三楼会议室开周例会，请各部门负责人带上本周的工作总结。"


def more_groups(api: Api, cast: Cast, n: int, *, members: tuple[str, ...] = ("member",)
                ) -> list[int]:
    """``n`` new work groups founded by the founder, with the given cast members in them."""
    ids = []
    for i in range(n):
        r = api.post("/api/groups", as_=cast.founder,
                     json={"name": f"工作群{i + 1}", "category": "work", "rules_text": "文明交流"})
        assert r.status_code == 201, r.text
        group = r.json()
        for key in members:
            join_by_invitation(api, group, cast.founder, cast[key])
        ids.append(int(group["id"]))
    return ids


def send(api: Api, person: Person, group_id: int, text: str) -> dict[str, Any]:
    r = api.post(f"/api/groups/{group_id}/messages", as_=person,
                 json={"text": text, "confirm": True})
    assert r.status_code == 201, r.text
    return dict(r.json())


def forward(api: Api, person: Person, message_id: int, group_ids: list[int],
            status: int = 201) -> Any:
    r = api.post(f"/api/messages/{message_id}/forward", as_=person,
                 json={"group_ids": group_ids, "confirm": True})
    assert r.status_code == status, r.text
    return r.json()


def cluster_of(app: Any, message_id: int) -> int | None:
    drain(app)
    with uow_of(app) as uow:
        return uow.session.scalar(select(ClusterMember.cluster_id).where(
            ClusterMember.message_id == message_id))


def detail(api: Api, cast: Cast, cluster_id: int) -> dict[str, Any]:
    r = api.get(f"/api/officer/clusters/{cluster_id}", as_=cast.officer)
    assert r.status_code == 200, r.text
    return dict(r.json())
