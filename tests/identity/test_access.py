"""What an unverified account may and may not do (ID-1)."""

from __future__ import annotations

from typing import Any

from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events


def test_unverified_newcomer_reads_but_does_not_speak(api: Api, app: Any, cast: Cast) -> None:
    gid = cast.group["id"]
    r = api.post(f"/api/groups/{gid}/messages", as_=cast.member, json={"text": "周会改到三点"})
    assert r.status_code == 201, r.text
    message_id = r.json()["id"]
    posted = len(audit_records(app, EventType.MESSAGE_POSTED))

    r = api.get(f"/api/groups/{gid}/messages", as_=cast.newcomer)
    assert r.status_code == 200, r.text
    assert "周会改到三点" in r.text
    assert api.get(f"/api/groups/{gid}", as_=cast.newcomer).status_code == 200

    r = api.post(f"/api/groups/{gid}/messages", as_=cast.newcomer, json={"text": "收到"})
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"
    assert r.json()["error"]["details"] == {"verification": "unverified"}

    r = api.post(f"/api/messages/{message_id}/forward", as_=cast.newcomer,
                 json={"group_ids": [gid]})
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"

    r = api.post("/api/groups", as_=cast.newcomer,
                 json={"name": "新人群", "category": "work", "rules_text": "文明交流"})
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"

    assert len(audit_records(app, EventType.MESSAGE_POSTED)) == posted
    assert audit_records(app, EventType.MESSAGE_FORWARDED) == []
    assert len(outbox_events(app, EventType.GROUP_CREATED)) == 1  # the cast's group only
