"""Per-envelope limits (issue 5 part 3): the default, PAY-4's cap, a category's setting and an
officer's per-group override; the strictest applies, and an override only tightens."""

from __future__ import annotations

from typing import Any

from qunguan.config import Settings
from qunguan.envelopes.models import EnvelopeLimit
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.enforcement.review_helpers import rows
from tests.envelopes.conftest import send, snapshot, topup
from tests.envelopes.test_elections import _strict_group


def limits(api: Api, cast: Cast, group_id: int, as_: Any = None) -> Any:
    r = api.get(f"/api/groups/{group_id}/envelope-limits", as_=as_ or cast.member)
    assert r.status_code == 200, r.text
    return r.json()


def set_limit(api: Api, cast: Cast, group_id: int, max_fen: Any,
              reason: str = "村里反映红包过大 complaints about large envelopes") -> Any:
    return api.put(f"/api/officer/groups/{group_id}/envelope-limits", as_=cast.officer,
                   json={"max_fen": max_fen, "reason": reason})


def clear_limit(api: Api, cast: Cast, group_id: int, reason: str = "已整改 resolved") -> Any:
    return api.post(f"/api/officer/groups/{group_id}/envelope-limits/clear",
                    as_=cast.officer, json={"reason": reason})


def test_default_limits_are_visible(api: Api, cast: Cast) -> None:
    body = limits(api, cast, cast.group["id"])
    assert body["max_fen"] == 20_000
    assert body["max_yuan"] == "200.00"
    assert body["source"] == "default"
    assert body["category_max_fen"] is None
    assert body["group_max_fen"] is None
    assert body["daily_max_fen"] == 100_000
    r = api.get(f"/api/groups/{cast.group['id']}/envelope-limits", as_=cast.outsider)
    assert error_code(r) == "not_found"


def test_officer_override_tightens_and_is_audited(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    topup(api, cast.founder, 50_000)
    r = set_limit(api, cast, gid, 5000)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["max_fen"], body["source"], body["group_max_fen"]) == (5000, "group", 5000)
    assert body["group_set_by"] == cast.officer.id
    assert body["group_reason"].startswith("村里")
    [record] = audit_records(app, EventType.ENVELOPE_LIMIT_SET)
    assert record.acting_id == cast.officer.id
    assert record.group_id == gid
    assert record.extra["max_fen"] == 5000
    assert record.extra["previous_fen"] is None
    assert record.extra["reason"].startswith("村里")
    [event] = outbox_events(app, EventType.ENVELOPE_LIMIT_SET)
    assert event.group_id is None  # members are not sent it
    # Members see the limit, not who set it or why.
    seen = limits(api, cast, gid)
    assert seen["max_fen"] == 5000
    assert seen["group_reason"] is None
    assert seen["group_set_by"] is None
    before = snapshot(app)
    r = send(api, cast.founder, gid, 5001, 1)
    assert error_code(r) == "envelope_over_limit"
    assert r.json()["error"]["details"] == {"max_fen": 5000, "reason": "group",
                                            "category": "work"}
    assert snapshot(app) == before
    assert send(api, cast.founder, gid, 5000, 1).status_code == 201
    # Replacing it keeps one row and records the previous amount.
    assert set_limit(api, cast, gid, 3000).json()["max_fen"] == 3000
    assert len(rows(app, EnvelopeLimit, group_id=gid)) == 1
    assert audit_records(app, EventType.ENVELOPE_LIMIT_SET)[-1].extra["previous_fen"] == 5000
    # Cleared: the default applies again.
    r = clear_limit(api, cast, gid)
    assert r.status_code == 200, r.text
    assert (r.json()["max_fen"], r.json()["source"]) == (20_000, "default")
    [cleared] = audit_records(app, EventType.ENVELOPE_LIMIT_CLEARED)
    assert cleared.extra == {"previous_fen": 3000, "reason": "已整改 resolved"}
    assert outbox_events(app, EventType.ENVELOPE_LIMIT_CLEARED)
    assert rows(app, EnvelopeLimit, group_id=gid) == []
    assert send(api, cast.founder, gid, 20_000, 1).status_code == 201


def test_override_refusals(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    r = set_limit(api, cast, gid, 20_001)  # looser than the default: refused
    assert r.status_code == 422
    assert error_code(r) == "envelope_limit_invalid"
    assert r.json()["error"]["details"]["ceiling_fen"] == 20_000
    assert error_code(set_limit(api, cast, gid, 100, reason="   ")) == "invalid_request"
    assert error_code(set_limit(api, cast, gid, 0)) == "invalid_request"
    assert error_code(set_limit(api, cast, gid, 1.5)) == "invalid_request"
    assert error_code(clear_limit(api, cast, gid)) == "envelope_limit_not_set"
    r = api.put(f"/api/officer/groups/{gid}/envelope-limits", as_=cast.founder,
                json={"max_fen": 100, "reason": "x"})
    assert error_code(r) == "forbidden"
    r = api.put("/api/officer/groups/999999/envelope-limits", as_=cast.officer,
                json={"max_fen": 100, "reason": "x"})
    assert error_code(r) == "not_found"
    assert audit_records(app, EventType.ENVELOPE_LIMIT_SET) == []
    assert rows(app, EnvelopeLimit) == []


def test_category_setting_and_strict_cap(api: Api, cast: Cast, app: Any,
                                         settings: Settings) -> None:
    settings.envelope_category_limits = {"work": 8000, "party_branch": 3000}
    gid = cast.group["id"]
    topup(api, cast.founder, 50_000)
    body = limits(api, cast, gid)
    assert (body["max_fen"], body["source"], body["category_max_fen"]) == (8000, "category",
                                                                           8000)
    r = send(api, cast.founder, gid, 8001, 1)
    assert r.json()["error"]["details"] == {"max_fen": 8000, "reason": "category",
                                            "category": "work"}
    # An override may not loosen the category's limit...
    assert error_code(set_limit(api, cast, gid, 9000)) == "envelope_limit_invalid"
    # ...but may tighten it.
    assert set_limit(api, cast, gid, 2000).json()["source"] == "group"
    # PAY-4: the strict categories' cap and a stricter category setting.
    branch = _strict_group(api, cast)
    body = limits(api, cast, branch["id"], as_=cast.founder)
    assert (body["max_fen"], body["source"]) == (3000, "category")
    settings.envelope_category_limits = {}
    body = limits(api, cast, branch["id"], as_=cast.founder)
    assert (body["max_fen"], body["source"]) == (5000, "strict_category")
    assert error_code(set_limit(api, cast, branch["id"], 5001)) == "envelope_limit_invalid"


def test_a_later_stricter_setting_overtakes_an_override(api: Api, cast: Cast,
                                                        settings: Settings) -> None:
    gid = cast.group["id"]
    assert set_limit(api, cast, gid, 6000).status_code == 200
    settings.envelope_category_limits = {"work": 4000}
    body = limits(api, cast, gid)
    assert (body["max_fen"], body["source"], body["group_max_fen"]) == (4000, "category", 6000)
