"""Officers read the audit records: filters, pagination, and nobody else may."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, Cast, error_code


def _post(api: Api, cast: Cast, text: str) -> int:
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast.member, json={"text": text})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_officer_reads_records_newest_first_with_filters(api: Api, cast: Cast) -> None:
    first, second = _post(api, cast, "一"), _post(api, cast, "二")
    r = api.get("/api/officer/audit-records?type=message_posted", as_=cast.officer)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["subject_id"] for i in items] == [str(second), str(first)]
    assert {i["type"] for i in items} == {"message_posted"}
    assert items[0]["type_number"] == 401
    assert items[0]["acting_id"] == cast.member.id
    assert items[0]["group_id"] == cast.group["id"]
    assert items[0]["source_ip"] == "testclient"
    r = api.get(f"/api/officer/audit-records?acting_id={cast.member.id}&type=message_posted",
                as_=cast.officer)
    assert len(r.json()["items"]) == 2
    r = api.get(f"/api/officer/audit-records?group_id={cast.group['id']}", as_=cast.officer)
    assert {i["group_id"] for i in r.json()["items"]} == {cast.group["id"]}


def test_pages_chain_without_gaps(api: Api, cast: Cast) -> None:
    for n in range(5):
        _post(api, cast, f"第{n}条")
    seen: list[int] = []
    before = ""
    while True:
        r = api.get(f"/api/officer/audit-records?type=message_posted&limit=2{before}",
                    as_=cast.officer)
        body = r.json()
        seen += [i["id"] for i in body["items"]]
        if body["next_before_id"] is None:
            break
        before = f"&before_id={body['next_before_id']}"
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)


def test_bad_filters_and_other_roles(api: Api, cast: Cast, app: Any) -> None:
    r = api.get("/api/officer/audit-records?type=no_such_type", as_=cast.officer)
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    r = api.get("/api/officer/audit-records?limit=0", as_=cast.officer)
    assert r.status_code == 422
    for person in (cast.member, cast.founder, cast.newcomer):
        r = api.get("/api/officer/audit-records", as_=person)
        assert r.status_code == 403
        assert error_code(r) == "forbidden"
