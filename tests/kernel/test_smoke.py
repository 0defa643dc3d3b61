from __future__ import annotations

from typing import Any

from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events


def test_unverified_member_cannot_post(api: Api, cast: Cast, app: Any) -> None:
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast.newcomer,
                 json={"text": "大家好"})
    assert r.status_code == 403
    assert error_code(r) == "real_name_required"
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast.member,
                 json={"text": "大家好"})
    assert r.status_code == 201, r.text
    assert audit_records(app, EventType.MESSAGE_POSTED)[-1].acting_id == cast.member.id
    assert outbox_events(app, EventType.MESSAGE_POSTED)[-1].payload["message"]["text"] == "大家好"
