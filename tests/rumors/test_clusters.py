"""Content clusters in the server (CR-6): forwards and copies join one cluster on both
backends, stats and the tree through the officer API, originators by display name only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from qunguan.rumors.models import ClusterFingerprint, ContentCluster
from tests.conftest import Api, Cast, FixedClock, error_code
from tests.rumors.cluster_helpers import (
    RUMOUR,
    RUMOUR_EDITED,
    UNRELATED,
    cluster_of,
    detail,
    forward,
    more_groups,
    send,
)
from tests.rumors.debunk_helpers import drain, uow_of


def test_forwards_join_the_cluster_of_their_original(api: Api, cast: Cast, app: Any,
                                                     clock: FixedClock) -> None:
    g2, g3 = more_groups(api, cast, 2, members=("member", "member2"))
    gid = cast.group["id"]
    original = send(api, cast.member, gid, RUMOUR)
    clock.advance(minutes=5)
    [hop1] = forward(api, cast.member, original["id"], [g2])
    clock.advance(minutes=5)
    [hop2] = forward(api, cast.member2, hop1["id"], [g3])
    other = send(api, cast.member2, gid, UNRELATED)
    cid = cluster_of(app, original["id"])
    assert cid is not None
    assert cluster_of(app, hop1["id"]) == cid
    assert cluster_of(app, hop2["id"]) == cid
    assert cluster_of(app, other["id"]) not in (None, cid)
    body = detail(api, cast, cid)
    stats = body["cluster"]
    assert stats["first_message_id"] == original["id"]
    assert stats["first_group_id"] == gid
    assert stats["messages"] == 3
    assert stats["groups_reached"] == 3
    assert stats["depth"] == 2
    assert stats["groups_first_hour"] == 3
    # The cast's group has five members, the new ones the founder and two members each.
    assert stats["members_exposed"] == 5 + 3 + 3
    nodes = {n["message_id"]: n for n in body["nodes"]}
    assert nodes[original["id"]]["parent_id"] is None
    assert nodes[hop1["id"]]["parent_id"] == original["id"]
    assert nodes[hop2["id"]]["parent_id"] == hop1["id"]
    assert nodes[hop2["id"]]["hop"] == 2
    assert nodes[hop2["id"]]["group_id"] == g3
    assert nodes[original["id"]]["sender_display_name"] == cast.member.display_name
    assert all(n["new_group"] for n in nodes.values())
    # Display names only: nothing of the vault travels in this API (the PII guard scans it).
    assert "legal_name" not in str(body)
    assert "phone" not in str(body)


def test_a_copy_paste_joins_the_cluster_and_is_shown_as_a_copy(api: Api, cast: Cast,
                                                               app: Any) -> None:
    [g2] = more_groups(api, cast, 1, members=("member2",))
    gid = cast.group["id"]
    original = send(api, cast.member, gid, RUMOUR)
    exact = send(api, cast.member2, g2, RUMOUR + " ！！")  # the same once normalised
    edited = send(api, cast.member2, g2, RUMOUR_EDITED)  # a near copy
    cid = cluster_of(app, original["id"])
    assert cid is not None
    assert cluster_of(app, exact["id"]) == cid
    assert cluster_of(app, edited["id"]) == cid
    nodes = {n["message_id"]: n for n in detail(api, cast, cid)["nodes"]}
    assert nodes[exact["id"]]["copy_of_id"] == original["id"]
    assert nodes[edited["id"]]["copy_of_id"] == original["id"]
    assert nodes[edited["id"]]["parent_id"] is None
    assert not nodes[edited["id"]]["new_group"]  # the exact copy reached g2 first
    with uow_of(app) as uow:
        # The exact join lives in the database: one row per fingerprint, each naming the cluster.
        rows = list(uow.session.scalars(select(ClusterFingerprint)))
        assert {r.cluster_id for r in rows if r.message_id in (original["id"],
                                                               edited["id"])} == {cid}
        assert uow.session.scalar(select(func.count()).select_from(ContentCluster)) == 1


def test_assignment_is_idempotent_and_the_exact_join_survives_a_new_process(
        api: Api, cast: Cast, app: Any) -> None:
    from qunguan.rumors import clusters

    gid = cast.group["id"]
    first = send(api, cast.member, gid, RUMOUR)
    drain(app)
    clusters._INDEXES.clear()  # another process: no near-copy index built yet
    again = send(api, cast.member2, gid, RUMOUR)
    cid = cluster_of(app, first["id"])
    assert cluster_of(app, again["id"]) == cid
    with uow_of(app) as uow:
        from qunguan.messaging import Message
        message = uow.session.get(Message, again["id"])
        assert message is not None
        clusters.assign(uow, message)  # a retried event changes nothing
        uow.commit()
        cluster = uow.session.get(ContentCluster, cid)
        assert cluster is not None
        assert cluster.messages == 2


def test_cluster_list_is_ordered_by_reach_and_filtered(api: Api, cast: Cast,
                                                       app: Any) -> None:
    g2, g3 = more_groups(api, cast, 2)
    gid = cast.group["id"]
    small = send(api, cast.member, gid, UNRELATED)
    big = send(api, cast.member, gid, RUMOUR)
    forward(api, cast.member, big["id"], [g2, g3])
    drain(app)
    r = api.get("/api/officer/clusters", as_=cast.officer)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["first_message_id"] for i in items] == [big["id"], small["id"]]
    assert items[0]["groups_reached"] == 3
    r = api.get("/api/officer/clusters", as_=cast.officer, params={"min_groups": 2})
    assert [i["first_message_id"] for i in r.json()["items"]] == [big["id"]]
    r = api.get("/api/officer/clusters", as_=cast.officer, params={"state": "tripped"})
    assert r.json()["items"] == []
    r = api.get("/api/officer/clusters", as_=cast.officer, params={"state": "melted"})
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    # Members see no cluster, and a missing one is not found.
    r = api.get("/api/officer/clusters", as_=cast.member)
    assert r.status_code == 403
    r = api.get("/api/officer/clusters/999999", as_=cast.officer)
    assert r.status_code == 404
    assert error_code(r) == "not_found"


def test_two_processes_racing_on_a_new_text_settle_on_one_cluster(
        api: Api, cast: Cast, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second worker read "unknown fingerprint" before the first committed: its insert of
    the fingerprint loses, it drops the cluster it started and joins the winner's."""
    from qunguan.rumors import clusters

    gid = cast.group["id"]
    first = send(api, cast.member, gid, RUMOUR)
    cid = cluster_of(app, first["id"])
    monkeypatch.setattr(clusters, "known_fingerprint", lambda uow, fingerprint: None)
    clusters._INDEXES.clear()  # nor does its near-copy index know the text yet
    monkeypatch.setattr(clusters.NearCopyIndex, "best", lambda self, text: None)
    again = send(api, cast.member2, gid, RUMOUR)
    assert cluster_of(app, again["id"]) == cid
    with uow_of(app) as uow:
        assert uow.session.scalar(select(func.count()).select_from(ContentCluster)) == 1
        cluster = uow.session.get(ContentCluster, cid)
        assert cluster is not None
        assert cluster.messages == 2
