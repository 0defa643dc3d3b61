"""Declaring and cancelling election periods in the console: every bad field at once and next
to it, the action's own refusals next to theirs, the audit record and event of
do_declare_election / do_cancel_election, officers only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from qunguan.groups import ElectionPeriod
from qunguan.kernel.events import EventType
from tests.conftest import Cast, audit_records, outbox_events
from tests.web.conftest import Web, errors_of

FORM = {"name": "第三届职工代表选举", "scope": "group", "starts_at": "2026-03-01T08:00",
        "ends_at": "2026-03-20T18:00", "vote_at": "2026-03-18T09:30", "policy": "hold"}


def elections(app: Any) -> list[ElectionPeriod]:
    uow = app.state.uows()
    try:
        return list(uow.session.scalars(select(ElectionPeriod).order_by(ElectionPeriod.id)))
    finally:
        uow.close()


def test_declare_an_election_for_a_group_with_candidates(web: Web, cast: Cast,
                                                         app: Any) -> None:
    web.as_(cast.officer)
    page = web.get("/officer/elections").text
    assert 'action="/officer/elections#declare"' in page
    r = web.post("/officer/elections", {
        **FORM, "group_id": str(cast.group["id"]),
        "candidate_ids": f"{cast.member.id}, {cast.member2.id}",
        "associates": f"{cast.admin.id}={cast.member.id}"})
    assert r.status_code == 303, errors_of(r.text)
    (election,) = elections(app)
    assert r.headers["location"] == \
        f"/officer/elections?declared={election.id}#election-{election.id}"
    assert (election.scope, election.group_id, election.policy) == \
        ("group", cast.group["id"], "hold")
    assert election.starts_at == datetime(2026, 3, 1, 8, tzinfo=UTC)  # typed in UTC
    assert election.vote_at == datetime(2026, 3, 18, 9, 30, tzinfo=UTC)
    (record,) = audit_records(app, EventType.ELECTION_DECLARED)
    assert record.acting_id == cast.officer.id
    assert record.extra["candidate_ids"] == [cast.member.id, cast.member2.id]
    assert record.extra["associates"] == {str(cast.admin.id): cast.member.id}
    assert outbox_events(app, EventType.ELECTION_DECLARED)
    page = web.get(f"/officer/elections?declared={election.id}").text
    assert "已宣布选举。" in page
    assert f'id="election-{election.id}"' in page
    assert cast.member.display_name in page
    assert f"{cast.admin.display_name} (关联人" in page


def test_declare_form_shows_every_error_next_to_its_field(web: Web, cast: Cast,
                                                          app: Any) -> None:
    web.as_(cast.officer)
    r = web.post("/officer/elections", {"name": " ", "scope": "planet", "starts_at": "tomorrow",
                                        "ends_at": "", "policy": "bribe",
                                        "candidate_ids": "7, x", "associates": "12-7"})
    assert r.status_code == 422
    assert errors_of(r.text) == {
        "f-name-error": "请填写选举名称（1 至 200 个字符）。",
        "f-scope-error": "请选择选举涵盖的范围。",
        "f-starts_at-error": "请输入日期和时间。",
        "f-ends_at-error": "请输入日期和时间。",
        "f-policy-error": "请选择策略。",
        "f-candidate_ids-error": "请填写账号编号，以逗号分隔。",
        "f-associates-error":
            "请按 12=7 的格式填写（先写关联人的账号编号，再写候选人的），以逗号分隔。"}
    assert 'value="7, x"' in r.text  # kept as typed
    # The field the scope needs.
    for scope, field in (("group", "group_id"), ("category", "category"),
                         ("org_unit", "org_unit")):
        r = web.post("/officer/elections", {**FORM, "scope": scope})
        assert list(errors_of(r.text)) == [f"f-{field}-error"], scope
    # The action's own refusals, each next to its field.
    gid = str(cast.group["id"])
    cases = [
        ({"ends_at": "2026-02-01T00:00"}, "f-ends_at-error", "选举的结束时间须晚于开始时间。"),
        ({"vote_at": "2026-04-01T00:00"}, "f-vote_at-error", "投票时间须在选举期间之内。"),
        ({"ends_at": "2027-06-01T00:00", "vote_at": ""}, "f-ends_at-error",
         "选举期间最长为 366 天。"),
        ({"group_id": "987654"}, "f-group_id-error", "没有此群组。"),
        ({"candidate_ids": "987654"}, "f-candidate_ids-error", "没有编号为 987654 的账号。"),
        ({"candidate_ids": str(cast.member.id), "associates": f"{cast.admin.id}=987654"},
         "f-associates-error",
         "每名关联人须代表本次选举的某位候选人，且候选人不能同时是关联人。"),
    ]
    for change, element, sentence in cases:
        r = web.post("/officer/elections", {**FORM, "group_id": gid, **change})
        assert r.status_code == 422, change
        assert errors_of(r.text) == {element: sentence}, change
    assert not elections(app)
    assert not audit_records(app, EventType.ELECTION_DECLARED)
    # In English when chosen.
    web.client.cookies.set("qunguan_lang", "en")
    r = web.post("/officer/elections", {**FORM, "group_id": gid, "ends_at": "2026-02-01T00:00"})
    assert errors_of(r.text) == {"f-ends_at-error": "The election ends after it starts."}


def test_declare_for_a_category_and_cancel_with_a_reason(web: Web, cast: Cast,
                                                         app: Any) -> None:
    web.as_(cast.officer)
    r = web.post("/officer/elections", {**FORM, "scope": "category", "category": "work",
                                        "group_id": "ignored", "policy": ""})
    assert r.status_code == 303, errors_of(r.text)
    (election,) = elections(app)
    assert (election.scope, election.category, election.group_id) == ("category", "work", None)
    assert election.policy == app.state.uows.settings.election_default_policy
    page = web.get("/officer/elections").text
    # the work group it covers, and its category
    gid = cast.group["id"]
    assert f'href="/officer/groups/{gid}">群 {gid}</a> (工作)' in page
    assert f'action="/officer/elections/{election.id}/cancel"' in page
    r = web.post(f"/officer/elections/{election.id}/cancel", {"reason": "  "})
    assert r.status_code == 422
    assert errors_of(r.text) == {f"f-{election.id}-reason-error": "请说明取消选举的理由。"}
    assert re.search(r'<details open>\s*<summary>取消此选举', r.text)
    r = web.post(f"/officer/elections/{election.id}/cancel", {"reason": "选举改期"})
    assert r.status_code == 303
    (record,) = audit_records(app, EventType.ELECTION_CANCELLED)
    assert (record.acting_id, record.extra["reason"]) == (cast.officer.id, "选举改期")
    assert outbox_events(app, EventType.ELECTION_CANCELLED)
    page = web.get("/officer/elections").text
    assert "选举改期" in page
    assert f'action="/officer/elections/{election.id}/cancel"' not in page
    r = web.post(f"/officer/elections/{election.id}/cancel", {"reason": "再取消一次"})
    assert r.status_code == 422
    assert errors_of(r.text) == {f"cancel-{election.id}-errors": "该选举已被取消。"}
    assert web.post("/officer/elections/987654/cancel", {"reason": "x"}).status_code == 404


def test_members_cannot_declare_or_cancel(web: Web, cast: Cast, app: Any) -> None:
    r = web.as_(cast.founder).post("/officer/elections",
                                   {**FORM, "group_id": str(cast.group["id"])})
    assert r.status_code == 403
    assert web.post("/officer/elections/1/cancel", {"reason": "x"}).status_code == 403
    assert not elections(app)
