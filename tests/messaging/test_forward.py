"""Forwarding with provenance (CR-5, CR-6) and the exact, server-only forward counter."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.messaging.conftest import (
    copies_of,
    count_rows,
    forward,
    history_ids,
    message_row,
    posted,
    stored_forwards,
)


def test_forward_to_every_allowed_target(api: Api, cast: Cast, app: Any, gid: int,
                                         other_groups: list[dict[str, Any]]) -> None:
    source = posted(api, cast.member2, gid, "转发给各群：周五停电")
    targets = [g["id"] for g in other_groups]
    r = forward(api, cast.member, source["id"], targets)
    assert r.status_code == 201, r.text
    copies = r.json()
    assert [c["group_id"] for c in copies] == targets
    n = len(targets)
    for c in copies:
        assert c["id"] != source["id"]
        assert c["origin_id"] == source["id"]
        assert c["parent_id"] == source["id"]
        assert c["hop"] == 1
        assert c["fingerprint"] == source["fingerprint"]
        assert c["text"] == source["text"]
        assert c["sender"]["id"] == cast.member.id
        assert c["forwards"] == n
        assert c["status"] == "delivered"
    for c in copies:
        stored = message_row(app, c["id"])
        assert stored is not None
        assert (stored.origin_id, stored.parent_id, stored.hop) == (source["id"], source["id"], 1)
    assert stored_forwards(app, source["id"]) == n == copies_of(app, source["id"])
    # The source itself now shows the count, to everyone who can see it.
    r = api.get(f"/api/messages/{source['id']}", as_=cast.admin)
    assert r.json()["forwards"] == n

    audits = audit_records(app, EventType.MESSAGE_FORWARDED)
    assert [a.subject_id for a in audits] == [str(c["id"]) for c in copies]
    for a, c in zip(audits, copies, strict=True):
        assert a.acting_id == cast.member.id
        assert a.group_id == c["group_id"]
        assert a.extra == {"origin_id": source["id"], "parent_id": source["id"], "hop": 1,
                           "fingerprint": source["fingerprint"], "verdict": "allow"}
    events = outbox_events(app, EventType.MESSAGE_FORWARDED)
    assert [e.group_id for e in events] == targets
    assert [e.payload["message"]["id"] for e in events] == [c["id"] for c in copies]
    # Each copy shows in its target group's history.
    for c in copies:
        assert history_ids(api, cast.member, c["group_id"]) == [c["id"]]


def test_forwarding_a_forward_keeps_origin_and_counts_hops(
        api: Api, cast: Cast, app: Any, gid: int, other_groups: list[dict[str, Any]]) -> None:
    a, b, c = (g["id"] for g in other_groups[:3])
    origin = posted(api, cast.member2, gid, "层层转发")
    [first] = forward(api, cast.member, origin["id"], [a]).json()
    [second] = forward(api, cast.member, first["id"], [b]).json()
    third = forward(api, cast.member, second["id"], [c, gid]).json()[0]
    assert (first["origin_id"], first["parent_id"], first["hop"]) == (origin["id"],
                                                                      origin["id"], 1)
    assert (second["origin_id"], second["parent_id"], second["hop"]) == (origin["id"],
                                                                         first["id"], 2)
    assert (third["origin_id"], third["parent_id"], third["hop"]) == (origin["id"],
                                                                      second["id"], 3)
    assert first["fingerprint"] == second["fingerprint"] == third["fingerprint"]
    # 1 + 1 + 2 copies of the same origin, counted on the origin whatever was forwarded
    assert stored_forwards(app, origin["id"]) == 4 == copies_of(app, origin["id"])
    assert stored_forwards(app, first["id"]) is None
    for mid in (origin["id"], first["id"], second["id"], third["id"]):
        assert api.get(f"/api/messages/{mid}", as_=cast.member).json()["forwards"] == 4
    audit = audit_records(app, EventType.MESSAGE_FORWARDED)[1]
    assert audit.extra["hop"] == 2
    assert audit.extra["parent_id"] == first["id"]


def test_duplicate_targets_collapse(api: Api, cast: Cast, app: Any, gid: int,
                                    other_groups: list[dict[str, Any]]) -> None:
    source = posted(api, cast.member, gid, "重复目标")
    target = other_groups[0]["id"]
    r = forward(api, cast.member, source["id"], [target, target, target])
    assert r.status_code == 201
    assert len(r.json()) == 1
    assert stored_forwards(app, source["id"]) == 1


def test_too_many_targets(api: Api, cast: Cast, app: Any, gid: int, settings: Any,
                          other_groups: list[dict[str, Any]]) -> None:
    source = posted(api, cast.member, gid, "转发太多")
    targets = [g["id"] for g in other_groups] + [gid]
    assert len(targets) == settings.max_forward_targets + 1
    before = count_rows(app)
    r = forward(api, cast.member, source["id"], targets)
    assert (r.status_code, error_code(r)) == (422, "too_many_forwards")
    assert r.json()["error"]["details"]["max"] == settings.max_forward_targets
    assert count_rows(app) == before


def test_empty_target_list(api: Api, cast: Cast, app: Any, gid: int) -> None:
    source = posted(api, cast.member, gid, "转发给谁")
    before = count_rows(app)
    r = forward(api, cast.member, source["id"], [])
    assert (r.status_code, error_code(r)) == (422, "invalid_request")
    r = api.post(f"/api/messages/{source['id']}/forward", as_=cast.member, json={})
    assert (r.status_code, error_code(r)) == (422, "invalid_request")
    r = api.post(f"/api/messages/{source['id']}/forward", as_=cast.member,
                 json={"group_ids": "1"})
    assert (r.status_code, error_code(r)) == (422, "invalid_request")
    assert count_rows(app) == before


def test_one_foreign_target_writes_nothing(api: Api, cast: Cast, app: Any, gid: int,
                                           other_groups: list[dict[str, Any]]) -> None:
    """Atomic: a target the forwarder is not in answers not_found, and no other target gets
    a copy either (the foreign one is listed last, after targets that would succeed)."""
    source = posted(api, cast.member, gid, "原子转发")
    r = api.post("/api/groups", as_=cast.outsider,
                 json={"name": "外人的群", "category": "social"})
    assert r.status_code == 201, r.text
    outsiders_group = r.json()["id"]
    before = count_rows(app)
    for targets in ([other_groups[0]["id"], other_groups[1]["id"], outsiders_group],
                    [other_groups[0]["id"], 999999]):
        r = forward(api, cast.member, source["id"], targets)
        assert (r.status_code, error_code(r)) == (404, "not_found")
    assert count_rows(app) == before
    assert stored_forwards(app, source["id"]) is None
    assert history_ids(api, cast.member, other_groups[0]["id"]) == []


def test_outsider_cannot_forward_what_they_cannot_see(api: Api, cast: Cast, app: Any,
                                                      gid: int) -> None:
    source = posted(api, cast.member, gid, "内部")
    r = api.post("/api/groups", as_=cast.outsider, json={"name": "外人的群", "category": "social"})
    before = count_rows(app)
    r = forward(api, cast.outsider, source["id"], [r.json()["id"]])
    assert (r.status_code, error_code(r)) == (404, "not_found")
    r = forward(api, cast.outsider, 999999, [gid])
    assert (r.status_code, error_code(r)) == (404, "not_found")
    assert count_rows(app) == before


def test_newcomer_cannot_forward(api: Api, cast: Cast, app: Any, gid: int) -> None:
    source = posted(api, cast.member, gid, "新人转发")
    before = count_rows(app)
    r = forward(api, cast.newcomer, source["id"], [gid])
    assert (r.status_code, error_code(r)) == (403, "real_name_required")
    assert count_rows(app) == before


def test_recalled_source_is_not_found(api: Api, cast: Cast, app: Any, gid: int,
                                      other_groups: list[dict[str, Any]]) -> None:
    source = posted(api, cast.member, gid, "发错了")
    assert api.post(f"/api/messages/{source['id']}/recall", as_=cast.member).status_code == 200
    before = count_rows(app)
    r = forward(api, cast.member, source["id"], [other_groups[0]["id"]])
    assert (r.status_code, error_code(r)) == (404, "not_found")
    assert count_rows(app) == before


def test_copy_of_a_recalled_origin_still_forwards(api: Api, cast: Cast, app: Any, gid: int,
                                                  other_groups: list[dict[str, Any]]) -> None:
    """Recall withdraws one message, not the copies others already made of it."""
    a, b = other_groups[0]["id"], other_groups[1]["id"]
    origin = posted(api, cast.member, gid, "撤回原文")
    [copy] = forward(api, cast.member, origin["id"], [a]).json()
    assert api.post(f"/api/messages/{origin['id']}/recall", as_=cast.member).status_code == 200
    r = forward(api, cast.member, copy["id"], [b])
    assert r.status_code == 201, r.text
    assert r.json()[0]["origin_id"] == origin["id"]
    assert stored_forwards(app, origin["id"]) == 2


COUNTER_WRITES = [
    ("PATCH", "/api/messages/{id}", 405),
    ("PUT", "/api/messages/{id}", 405),
    ("DELETE", "/api/messages/{id}", 405),
    ("POST", "/api/messages/{id}", 405),
    ("POST", "/api/messages/{id}/forwards", 404),
    ("PATCH", "/api/messages/{id}/forwards", 404),
    ("PUT", "/api/messages/{id}/forwards", 404),
    ("POST", "/api/messages/{id}/counter", 404),
    ("GET", "/api/messages/{id}/forward", 405),
    ("PATCH", "/api/messages/{id}/forward", 405),
    ("PUT", "/api/messages/{id}/forward", 405),
]


def test_no_route_writes_the_counter(api: Api, cast: Cast, app: Any, gid: int) -> None:
    source = posted(api, cast.member, gid, "计数不可改")
    before = count_rows(app)
    for method, path, status in COUNTER_WRITES:
        r = api.request(method, path.format(id=source["id"]), as_=cast.member,
                        json={"forwards": 1_000_000, "group_ids": [gid]})
        assert r.status_code == status, (method, path, r.text)
        assert error_code(r) == {404: "not_found", 405: "method_not_allowed"}[status]
    assert count_rows(app) == before
    assert api.get(f"/api/messages/{source['id']}", as_=cast.member).json()["forwards"] == 0


def test_forward_body_cannot_set_the_counter(api: Api, cast: Cast, app: Any, gid: int,
                                             other_groups: list[dict[str, Any]]) -> None:
    source = posted(api, cast.member, gid, "只计真实转发")
    r = forward(api, cast.member, source["id"], [other_groups[0]["id"]], forwards=999,
                hop=0, origin_id=1)
    assert r.status_code == 201
    [copy] = r.json()
    assert (copy["forwards"], copy["hop"], copy["origin_id"]) == (1, 1, source["id"])


def test_messaging_routes_are_exactly_these(app: Any) -> None:
    """A guard: a new route that could write messages or counters must come with tests."""
    routes = {(method.upper(), path) for path, ops in app.openapi()["paths"].items()
              if path.startswith(("/api/messages", "/api/groups/{group_id}/messages"))
              for method in ops}
    assert routes == {("POST", "/api/groups/{group_id}/messages"),
                      ("GET", "/api/groups/{group_id}/messages"),
                      ("GET", "/api/messages/{message_id}"),
                      ("POST", "/api/messages/{message_id}/forward"),
                      ("POST", "/api/messages/{message_id}/recall"),
                      ("POST", "/api/messages/{message_id}/delete")}


def test_concurrent_forwards_count_exactly(api: Api, cast: Cast, app: Any, gid: int,
                                           backend: str,
                                           other_groups: list[dict[str, Any]]) -> None:
    """20 forward requests at once, of 1 or 2 targets each: the counter is the number of
    copies, not a lost-update approximation."""
    if backend != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property (SQLite serialises writers)")
    source = posted(api, cast.member2, gid, "并发转发")
    a, b = other_groups[0]["id"], other_groups[1]["id"]
    start = threading.Barrier(20)
    results: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        start.wait()
        r = forward(api, cast.member, source["id"], [a] if i % 2 else [a, b])
        with lock:
            results.append(r.status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [201] * 20
    assert copies_of(app, source["id"]) == 30
    assert stored_forwards(app, source["id"]) == 30
    assert api.get(f"/api/messages/{source['id']}", as_=cast.member).json()["forwards"] == 30
    assert len(audit_records(app, EventType.MESSAGE_FORWARDED)) == 30
