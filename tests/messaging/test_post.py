"""Posting a message: the response, the audit record, the outbox event, and every refusal."""

from __future__ import annotations

from typing import Any

from qunguan.kernel.events import EventType
from qunguan.messaging.fingerprint import fingerprint
from qunguan.messaging.models import Mention
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.messaging.conftest import (
    count_rows,
    forward,
    make_group,
    message_row,
    post,
    posted,
)


def test_post_returns_the_public_message(api: Api, cast: Cast, app: Any, gid: int) -> None:
    r = post(api, cast.founder, gid, "明天上午九点开会")
    assert r.status_code == 201, r.text
    m = r.json()
    assert set(m) == {"id", "group_id", "sender", "text", "recalled", "reply_to_id", "mentions",
                      "origin_id", "parent_id", "hop", "fingerprint", "forwards", "status",
                      "labels", "created_at"}
    assert m["group_id"] == gid
    assert m["text"] == "明天上午九点开会"
    assert m["sender"] == {"id": cast.founder.id, "display_name": cast.founder.display_name,
                           "avatar_text": m["sender"]["avatar_text"], "role": "founder",
                           "badge": "群主"}
    assert m["origin_id"] == m["id"]
    assert m["parent_id"] is None
    assert m["hop"] == 0
    assert m["forwards"] == 0
    assert m["recalled"] is False
    assert m["reply_to_id"] is None
    assert m["mentions"] == []
    assert m["status"] == "delivered"
    assert m["labels"] == []
    assert m["fingerprint"] == fingerprint("明天上午九点开会")
    assert len(m["fingerprint"]) == 64

    [audit] = audit_records(app, EventType.MESSAGE_POSTED)
    assert audit.acting_id == cast.founder.id
    assert audit.subject_type == "message"
    assert audit.subject_id == str(m["id"])
    assert audit.group_id == gid
    assert audit.extra["fingerprint"] == m["fingerprint"]
    assert audit.extra["verdict"] == "allow"
    assert audit.extra["length"] == len("明天上午九点开会")
    assert audit.request_id  # LR-2: where it came from

    [event] = outbox_events(app, EventType.MESSAGE_POSTED)
    assert event.group_id == gid
    assert event.payload["message"] == m  # the event carries what the API answered
    assert event.payload["account_ids"] == []

    stored = message_row(app, m["id"])
    assert stored is not None
    assert stored.text == "明天上午九点开会"
    assert stored.sender_id == cast.founder.id


def test_badges_by_role(api: Api, cast: Cast, gid: int) -> None:
    assert posted(api, cast.admin, gid, "管理员发言")["sender"]["badge"] == "管理员"
    member = posted(api, cast.member, gid, "成员发言")["sender"]
    assert (member["role"], member["badge"]) == ("member", None)


def test_get_one_message(api: Api, cast: Cast, gid: int) -> None:
    m = posted(api, cast.member, gid, "查看单条")
    r = api.get(f"/api/messages/{m['id']}", as_=cast.member2)
    assert r.status_code == 200, r.text
    assert r.json() == m
    r = api.get(f"/api/messages/{m['id']}", as_=cast.outsider)
    assert (r.status_code, error_code(r)) == (404, "not_found")
    r = api.get("/api/messages/999999", as_=cast.member)
    assert (r.status_code, error_code(r)) == (404, "not_found")


def test_same_text_same_fingerprint_and_whitespace_folded(api: Api, cast: Cast,
                                                         gid: int) -> None:
    a = posted(api, cast.member, gid, "通知：  下午 停水")
    b = posted(api, cast.member2, gid, "通知： 下午\n停水 ")
    c = posted(api, cast.member2, gid, "通知：下午停电")
    assert a["fingerprint"] == b["fingerprint"] != c["fingerprint"]
    assert a["text"] != b["text"]  # the text itself is kept as written


BLANKS = ["", "   ", "\n\t ", "\u3000\u3000", "\u200b", "\ufeff\u200b "]


def test_empty_or_blank_text(api: Api, cast: Cast, app: Any, gid: int) -> None:
    before = count_rows(app)
    for text in BLANKS:
        r = post(api, cast.member, gid, text)
        assert (r.status_code, error_code(r)) == (422, "message_empty"), repr(text)
    assert count_rows(app) == before


def test_too_long(api: Api, cast: Cast, app: Any, gid: int, settings: Any) -> None:
    limit = settings.max_message_chars
    before = count_rows(app)
    r = post(api, cast.member, gid, "长" * (limit + 1))
    assert (r.status_code, error_code(r)) == (422, "message_too_long")
    assert r.json()["error"]["details"]["max_chars"] == limit
    assert count_rows(app) == before
    assert audit_records(app, EventType.MESSAGE_POSTED) == []
    # Exactly at the limit is fine: the limit counts characters, not bytes.
    m = posted(api, cast.member, gid, "长" * limit)
    assert len(m["text"]) == limit


def test_text_that_cannot_be_stored_is_refused(api: Api, cast: Cast, app: Any,
                                               gid: int) -> None:
    """NUL cannot be stored in PostgreSQL text and a lone surrogate cannot be encoded at all:
    both are refused up front instead of failing with a 500."""
    before = count_rows(app)
    for raw in ('{"text": "a\\u0000b"}', '{"text": "a\\ud800b"}', '{"text": "\\udfff"}'):
        r = api.post(f"/api/groups/{gid}/messages", as_=cast.member, content=raw.encode(),
                     headers={"content-type": "application/json"})
        assert (r.status_code, error_code(r)) == (422, "invalid_request"), raw
        assert r.json()["error"]["details"]["fields"] == ["text"]
    assert count_rows(app) == before
    # A valid surrogate pair (an emoji written as a JSON escape) is of course fine.
    r = api.post(f"/api/groups/{gid}/messages", as_=cast.member,
                 content=b'{"text": "\\ud83d\\ude00"}',
                 headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["text"] == "\U0001f600"


def test_outsider_and_missing_group_answer_alike(api: Api, cast: Cast, app: Any,
                                                 gid: int) -> None:
    before = count_rows(app)
    r1 = post(api, cast.outsider, gid, "我能发吗")
    r2 = post(api, cast.outsider, 999999, "我能发吗")
    assert (r1.status_code, error_code(r1)) == (404, "not_found")
    assert r1.json() == r2.json()
    assert count_rows(app) == before


def test_newcomer_must_verify(api: Api, cast: Cast, app: Any, gid: int) -> None:
    before = count_rows(app)
    r = post(api, cast.newcomer, gid, "大家好")
    assert (r.status_code, error_code(r)) == (403, "real_name_required")
    assert count_rows(app) == before


def test_anonymous_cannot_post(api: Api, cast: Cast, gid: int) -> None:
    r = api.post(f"/api/groups/{gid}/messages", json={"text": "匿名"})
    assert (r.status_code, error_code(r)) == (401, "not_authenticated")
    r = api.post(f"/api/groups/{gid}/messages", json={"text": "匿名"},
                 headers={"Authorization": "Bearer not-a-token"})
    assert (r.status_code, error_code(r)) == (401, "invalid_token")


def test_reply_in_same_group(api: Api, cast: Cast, app: Any, gid: int) -> None:
    first = posted(api, cast.member, gid, "谁有会议室钥匙？")
    reply = posted(api, cast.admin, gid, "在我这里", reply_to_id=first["id"])
    assert reply["reply_to_id"] == first["id"]
    assert audit_records(app, EventType.MESSAGE_POSTED)[-1].extra["reply_to_id"] == first["id"]
    stored = message_row(app, reply["id"])
    assert stored is not None
    assert stored.reply_to_id == first["id"]


def test_reply_to_another_groups_message_is_not_found(api: Api, cast: Cast, app: Any,
                                                      gid: int) -> None:
    # member2 founds a second group with member in it: member can see its messages, but a
    # reply may only point inside the group it is posted to.
    other = make_group(api, cast.member2, "另一个群", cast.member)
    foreign = posted(api, cast.member2, other["id"], "别的群的消息")
    before = count_rows(app)
    r = post(api, cast.member, gid, "回复", reply_to_id=foreign["id"])
    assert (r.status_code, error_code(r)) == (404, "not_found")
    # ... and a message one cannot see at all answers the same
    r = post(api, cast.admin, gid, "回复", reply_to_id=foreign["id"])
    assert (r.status_code, error_code(r)) == (404, "not_found")
    r = post(api, cast.admin, gid, "回复", reply_to_id=987654)
    assert (r.status_code, error_code(r)) == (404, "not_found")
    assert count_rows(app) == before


def test_mentions_are_stored_and_returned(api: Api, cast: Cast, app: Any, gid: int) -> None:
    m = posted(api, cast.member, gid, "@管家丙 @成员戊 请看",
               mentions=[cast.member2.id, cast.admin.id, cast.member2.id])
    assert m["mentions"] == sorted([cast.admin.id, cast.member2.id])
    uow = app.state.uows()
    try:
        rows = uow.session.query(Mention).filter(Mention.message_id == m["id"]).all()
        assert sorted(r.account_id for r in rows) == sorted([cast.admin.id, cast.member2.id])
    finally:
        uow.close()
    [event] = outbox_events(app, EventType.MESSAGE_POSTED)
    assert sorted(event.payload["account_ids"]) == sorted([cast.admin.id, cast.member2.id])
    assert event.payload["message"]["mentions"] == m["mentions"]
    r = api.get(f"/api/messages/{m['id']}", as_=cast.admin)
    assert r.json()["mentions"] == m["mentions"]


def test_mentioning_a_non_member(api: Api, cast: Cast, app: Any, gid: int) -> None:
    before = count_rows(app)
    r = post(api, cast.member, gid, "@路人己", mentions=[cast.admin.id, cast.outsider.id])
    assert (r.status_code, error_code(r)) == (422, "invalid_request")
    assert r.json()["error"]["details"]["not_members"] == [cast.outsider.id]
    r = post(api, cast.member, gid, "@nobody", mentions=[424242])
    assert (r.status_code, error_code(r)) == (422, "invalid_request")
    assert count_rows(app) == before


def test_malformed_json(api: Api, cast: Cast, app: Any, gid: int) -> None:
    before = count_rows(app)
    r = api.post(f"/api/groups/{gid}/messages", as_=cast.member, content=b'{"text": "hi"',
                 headers={"content-type": "application/json"})
    assert (r.status_code, error_code(r)) == (400, "malformed_json")
    assert count_rows(app) == before


WRONG_BODIES: list[Any] = [{"text": 12345}, {}, {"text": None}, {"text": ["a"]},
                            {"text": "x", "mentions": "1"}, {"text": "x", "reply_to_id": "abc"},
                            {"text": "x", "confirm": "maybe"}, ["text"], "text", None]


def test_wrong_types(api: Api, cast: Cast, app: Any, gid: int) -> None:
    before = count_rows(app)
    for body in WRONG_BODIES:
        r = api.post(f"/api/groups/{gid}/messages", as_=cast.member, json=body)
        assert (r.status_code, error_code(r)) == (422, "invalid_request"), body
        assert r.json()["error"]["details"]["fields"], body
    assert count_rows(app) == before


def test_ids_out_of_range_are_refused_not_crashed(api: Api, cast: Cast, app: Any,
                                                  gid: int) -> None:
    """2**63 fits neither SQLite INTEGER nor PostgreSQL BIGINT: a 422, never a 500."""
    before = count_rows(app)
    for extra in ({"reply_to_id": 2**63}, {"mentions": [2**63]}, {"reply_to_id": -1},
                  {"reply_to_id": 0}, {"mentions": [0]}, {"mentions": [cast.admin.id, -5]}):
        r = post(api, cast.member, gid, "x", **extra)
        assert (r.status_code, error_code(r)) == (422, "invalid_request"), extra
    assert count_rows(app) == before


HUGE = 2**70


def test_path_ids_out_of_range(api: Api, cast: Cast, app: Any) -> None:
    """Ids beyond BIGINT are out of range (422), never a database error (500)."""
    before = count_rows(app)
    for method, path in [
        ("GET", f"/api/groups/{HUGE}/messages"), ("POST", f"/api/groups/{HUGE}/messages"),
        ("GET", f"/api/messages/{HUGE}"), ("POST", f"/api/messages/{HUGE}/recall"),
        ("POST", f"/api/messages/{HUGE}/delete"), ("POST", f"/api/messages/{HUGE}/forward"),
        ("POST", f"/api/groups/{-HUGE}/messages"), ("GET", "/api/messages/0"),
    ]:
        r = api.request(method, path, as_=cast.member, json={"text": "x", "group_ids": [1]})
        assert (r.status_code, error_code(r)) == (422, "invalid_request"), (method, path)
    r = forward(api, cast.member, 1, [HUGE])
    assert (r.status_code, error_code(r)) == (422, "invalid_request")
    assert count_rows(app) == before


def test_client_cannot_set_provenance_or_counters(api: Api, cast: Cast, gid: int) -> None:
    """Unknown fields are ignored: provenance and the forward counter are the server's."""
    m = posted(api, cast.member, gid, "伪造来源", origin_id=1, parent_id=1, hop=7,
               forwards=100000, fingerprint="0" * 64, status="held", sender_id=cast.founder.id)
    assert (m["origin_id"], m["parent_id"], m["hop"], m["forwards"]) == (m["id"], None, 0, 0)
    assert m["fingerprint"] == fingerprint("伪造来源")
    assert m["status"] == "delivered"
    assert m["sender"]["id"] == cast.member.id


def test_muted_member_cannot_post(api: Api, cast: Cast, app: Any, gid: int, clock: Any) -> None:
    r = api.post(f"/api/groups/{gid}/members/{cast.member.id}/mute", as_=cast.admin,
                 json={"seconds": 600})
    assert r.status_code == 204, r.text
    before = count_rows(app)
    r = post(api, cast.member, gid, "我被禁言了吗")
    assert (r.status_code, error_code(r)) == (403, "muted")
    assert "until" in r.json()["error"]["details"]
    assert count_rows(app) == before
    clock.advance(seconds=601)
    posted(api, cast.member, gid, "禁言结束")
