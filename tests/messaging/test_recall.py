"""Recall by the sender within the window; removal by the group's managers (GA-7)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from qunguan.kernel.events import EventType
from qunguan.messaging import queries
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.messaging.conftest import count_rows, history, message_row, posted


def recall(api: Api, person: Any, message_id: int) -> Any:
    return api.post(f"/api/messages/{message_id}/recall", as_=person)


def delete(api: Api, person: Any, message_id: int, reason: str | None = None) -> Any:
    return api.post(f"/api/messages/{message_id}/delete", as_=person, json={"reason": reason})


def test_recall_within_window(api: Api, cast: Cast, app: Any, gid: int, clock: Any,
                              settings: Any) -> None:
    m = posted(api, cast.member, gid, "发错群了，马上撤回")
    clock.advance(seconds=settings.recall_window_seconds)  # the boundary itself still counts
    r = recall(api, cast.member, m["id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] is None
    assert body["recalled"] is True
    assert body["id"] == m["id"]
    assert body["fingerprint"] == m["fingerprint"]  # provenance survives the recall

    stored = message_row(app, m["id"])
    assert stored is not None
    assert stored.text is None
    assert stored.recalled_at == clock.now()
    [audit] = audit_records(app, EventType.MESSAGE_RECALLED)
    assert audit.acting_id == cast.member.id
    assert audit.subject_id == str(m["id"])
    assert audit.group_id == gid
    assert audit.extra["text"] == "发错群了，马上撤回"  # kept as evidence, hidden from members
    assert audit.extra["fingerprint"] == m["fingerprint"]
    assert audit.extra["sender_id"] == cast.member.id
    [event] = outbox_events(app, EventType.MESSAGE_RECALLED)
    assert event.group_id == gid
    assert event.payload["message_id"] == m["id"]
    assert "text" not in event.payload

    [item] = history(api, cast.member2, gid).json()["items"]
    assert (item["id"], item["text"], item["recalled"]) == (m["id"], None, True)
    assert "发错群了" not in api.get(f"/api/messages/{m['id']}", as_=cast.admin).text


def test_recall_after_window(api: Api, cast: Cast, app: Any, gid: int, clock: Any,
                             settings: Any) -> None:
    m = posted(api, cast.member, gid, "来不及撤回")
    clock.advance(seconds=settings.recall_window_seconds + 1)
    before = count_rows(app)
    r = recall(api, cast.member, m["id"])
    assert (r.status_code, error_code(r)) == (409, "recall_window_passed")
    assert r.json()["error"]["details"]["window_seconds"] == settings.recall_window_seconds
    assert count_rows(app) == before
    stored = message_row(app, m["id"])
    assert stored is not None
    assert stored.text == "来不及撤回"
    assert stored.recalled_at is None


def test_recall_twice(api: Api, cast: Cast, app: Any, gid: int) -> None:
    m = posted(api, cast.member, gid, "撤回两次")
    assert recall(api, cast.member, m["id"]).status_code == 200
    before = count_rows(app)
    r = recall(api, cast.member, m["id"])
    assert (r.status_code, error_code(r)) == (409, "already_recalled")
    assert count_rows(app) == before
    assert len(audit_records(app, EventType.MESSAGE_RECALLED)) == 1


def test_recall_someone_elses(api: Api, cast: Cast, app: Any, gid: int) -> None:
    m = posted(api, cast.member, gid, "别人的消息")
    before = count_rows(app)
    for person in (cast.member2, cast.founder):
        r = recall(api, person, m["id"])
        assert (r.status_code, error_code(r)) == (403, "forbidden")
    r = recall(api, cast.outsider, m["id"])
    assert (r.status_code, error_code(r)) == (404, "not_found")
    r = recall(api, cast.member, 999999)
    assert (r.status_code, error_code(r)) == (404, "not_found")
    assert count_rows(app) == before


def test_admin_deletes_a_members_message(api: Api, cast: Cast, app: Any, gid: int,
                                         clock: Any) -> None:
    m = posted(api, cast.member, gid, "违反群规的内容")
    clock.advance(hours=5)  # removal has no time window
    r = delete(api, cast.admin, m["id"], reason="  违反群规第三条  ")
    assert r.status_code == 200, r.text
    assert (r.json()["text"], r.json()["recalled"]) == (None, True)
    [audit] = audit_records(app, EventType.MESSAGE_DELETED)
    assert audit.acting_id == cast.admin.id
    assert audit.subject_id == str(m["id"])
    assert audit.group_id == gid
    assert audit.extra["text"] == "违反群规的内容"
    assert audit.extra["sender_id"] == cast.member.id
    assert audit.extra["reason"] == "违反群规第三条"
    [event] = outbox_events(app, EventType.MESSAGE_DELETED)
    assert (event.group_id, event.payload["message_id"]) == (gid, m["id"])
    assert audit_records(app, EventType.MESSAGE_RECALLED) == []
    stored = message_row(app, m["id"])
    assert stored is not None
    assert stored.text is None
    # Removed once is removed: neither a second removal nor a recall goes through.
    r = delete(api, cast.founder, m["id"])
    assert (r.status_code, error_code(r)) == (409, "already_recalled")
    r = recall(api, cast.member, m["id"])
    assert (r.status_code, error_code(r)) == (409, "already_recalled")


def test_founder_deletes_admins_message_without_reason(api: Api, cast: Cast, app: Any,
                                                       gid: int) -> None:
    m = posted(api, cast.admin, gid, "管理员的消息")
    r = api.post(f"/api/messages/{m['id']}/delete", as_=cast.founder, json={})
    assert r.status_code == 200, r.text
    assert audit_records(app, EventType.MESSAGE_DELETED)[0].extra["reason"] is None


def test_member_cannot_delete(api: Api, cast: Cast, app: Any, gid: int) -> None:
    m = posted(api, cast.member2, gid, "成员不能删")
    before = count_rows(app)
    r = delete(api, cast.member, m["id"])
    assert (r.status_code, error_code(r)) == (403, "forbidden")
    r = delete(api, cast.outsider, m["id"])
    assert (r.status_code, error_code(r)) == (404, "not_found")
    assert count_rows(app) == before


def test_admin_cannot_delete_founders_or_peers(api: Api, cast: Cast, app: Any,
                                               gid: int) -> None:
    founders = posted(api, cast.founder, gid, "群主的消息")
    before = count_rows(app)
    r = delete(api, cast.admin, founders["id"], reason="试试")
    assert (r.status_code, error_code(r)) == (403, "forbidden")
    assert count_rows(app) == before
    stored = message_row(app, founders["id"])
    assert stored is not None
    assert stored.text == "群主的消息"


def test_admin_may_delete_own_message(api: Api, cast: Cast, app: Any, gid: int) -> None:
    m = posted(api, cast.admin, gid, "自己的消息")
    r = delete(api, cast.admin, m["id"])
    assert r.status_code == 200, r.text
    assert len(audit_records(app, EventType.MESSAGE_DELETED)) == 1


def test_delete_reason_too_long(api: Api, cast: Cast, app: Any, gid: int) -> None:
    m = posted(api, cast.member, gid, "理由太长")
    before = count_rows(app)
    r = delete(api, cast.admin, m["id"], reason="长" * 501)
    assert (r.status_code, error_code(r)) == (422, "invalid_request")
    assert count_rows(app) == before


def test_concurrent_withdrawals_happen_once(api: Api, cast: Cast, app: Any, gid: int,
                                            backend: str) -> None:
    """Ten recalls and removals of one message at once: exactly one goes through, with one
    audit record; the rest see it already withdrawn."""
    if backend != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property (SQLite serialises writers)")
    m = posted(api, cast.member, gid, "并发撤回")
    start = threading.Barrier(10)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        start.wait()
        r = recall(api, cast.member, m["id"]) if i % 2 else delete(api, cast.admin, m["id"])
        with lock:
            results.append((r.status_code, None if r.status_code == 200 else error_code(r)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results, key=str) == sorted([(200, None)] + [(409, "already_recalled")] * 9,
                                              key=str)
    withdrawn = (audit_records(app, EventType.MESSAGE_RECALLED)
                 + audit_records(app, EventType.MESSAGE_DELETED))
    assert len(withdrawn) == 1
    assert withdrawn[0].extra["text"] == "并发撤回"


def test_withdrawals_say_how_and_by_whom_never_the_text(api: Api, cast: Cast, app: Any,
                                                        gid: int) -> None:
    kept = posted(api, cast.member, gid, "留着")
    recalled = posted(api, cast.member, gid, "撤回的")
    deleted = posted(api, cast.member2, gid, "删掉的")
    assert recall(api, cast.member, recalled["id"]).status_code == 200
    assert delete(api, cast.admin, deleted["id"], reason="违规").status_code == 200
    uow = app.state.uows()
    try:
        found = queries.withdrawals(uow, [kept["id"], recalled["id"], deleted["id"]])
        assert queries.withdrawals(uow, []) == {}
    finally:
        uow.close()
    assert found == {recalled["id"]: {"how": "recalled", "by": cast.member.id},
                     deleted["id"]: {"how": "deleted", "by": cast.admin.id}}
