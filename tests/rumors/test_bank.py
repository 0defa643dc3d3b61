"""The debunk bank: officers add, edit, retire, list and import entries, each change audited;
imports are all or nothing with per-row errors; duplicates are refused or reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qunguan.cli.main import app as cli_app
from qunguan.kernel.events import EventType
from qunguan.rumors.models import DebunkEntry
from qunguan.rumors.starter import STARTER_BANK
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.rumors.debunk_helpers import add, entry, load_starter, uow_of


def count_entries(app: Any) -> int:
    with uow_of(app) as uow:
        return len(list(uow.session.scalars(__import__("sqlalchemy").select(DebunkEntry.id))))


def test_add_edit_retire_are_audited_with_events(api: Api, cast: Cast, app: Any) -> None:
    created = add(api, cast)
    assert created["version"] == 1
    assert created["status"] == "active"
    assert created["card"]["verdict"] == "false"
    assert created["card"]["source_url"] == "https://www.piyao.org.cn/"
    [rec] = audit_records(app, EventType.DEBUNK_ADDED)
    assert rec.acting_id == cast.officer.id
    assert rec.subject_id == str(created["id"])
    assert rec.extra["card"]["debunk_id"] == created["id"]
    [ev] = outbox_events(app, EventType.DEBUNK_ADDED)
    assert ev.payload["debunk_id"] == created["id"]
    assert ev.payload["verdict"] == "false"

    r = api.patch(f"/api/officer/debunks/{created['id']}", as_=cast.officer,
                  json={"verdict": "misleading", "expected_version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert r.json()["verdict"] == "misleading"
    [rec] = audit_records(app, EventType.DEBUNK_EDITED)
    assert rec.extra["before"] == {"verdict": "false"}
    assert rec.extra["after"] == {"verdict": "misleading"}
    [ev] = outbox_events(app, EventType.DEBUNK_EDITED)
    assert ev.payload["previous_verdict"] == "false"
    assert not ev.payload["claim_changed"]

    # A stale version is refused; an edit that changes nothing records nothing.
    r = api.patch(f"/api/officer/debunks/{created['id']}", as_=cast.officer,
                  json={"publisher": "别处", "expected_version": 1})
    assert r.status_code == 409
    assert error_code(r) == "conflict"
    r = api.patch(f"/api/officer/debunks/{created['id']}", as_=cast.officer,
                  json={"verdict": "misleading"})
    assert r.status_code == 200
    assert r.json()["version"] == 2
    assert len(audit_records(app, EventType.DEBUNK_EDITED)) == 1

    r = api.post(f"/api/officer/debunks/{created['id']}/retire", as_=cast.officer,
                 json={"reason": "已有更完整的条目"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "retired"
    assert r.json()["version"] == 3
    [rec] = audit_records(app, EventType.DEBUNK_RETIRED)
    assert rec.extra == {"version": 3, "reason": "已有更完整的条目"}
    assert len(outbox_events(app, EventType.DEBUNK_RETIRED)) == 1
    for call in (lambda: api.post(f"/api/officer/debunks/{created['id']}/retire",
                                  as_=cast.officer, json={"reason": "再次"}),
                 lambda: api.patch(f"/api/officer/debunks/{created['id']}", as_=cast.officer,
                                   json={"verdict": "false"})):
        r = call()
        assert r.status_code == 409
        assert error_code(r) == "debunk_retired"


def test_list_search_and_read(api: Api, cast: Cast) -> None:
    first = add(api, cast)
    second = add(api, cast, claim="喝板蓝根可以预防新冠病毒感染", publisher="国家卫生健康委员会",
                 verdict="misleading")
    r = api.get("/api/officer/debunks", as_=cast.officer)
    assert [i["id"] for i in r.json()["items"]] == [second["id"], first["id"]]
    r = api.get("/api/officer/debunks", as_=cast.officer, params={"q": "板蓝根"})
    assert [i["id"] for i in r.json()["items"]] == [second["id"]]
    r = api.get("/api/officer/debunks", as_=cast.officer, params={"q": "%"})
    assert r.json()["items"] == []  # a LIKE wildcard is searched for, not expanded
    r = api.get("/api/officer/debunks", as_=cast.officer, params={"verdict": "false"})
    assert [i["id"] for i in r.json()["items"]] == [first["id"]]
    r = api.get("/api/officer/debunks", as_=cast.officer, params={"limit": 1})
    assert r.json()["next_before_id"] == second["id"]
    r = api.get("/api/officer/debunks", as_=cast.officer,
                params={"before_id": second["id"]})
    assert [i["id"] for i in r.json()["items"]] == [first["id"]]
    r = api.get(f"/api/officer/debunks/{first['id']}", as_=cast.officer)
    assert r.status_code == 200
    assert r.json()["claim"] == first["claim"]
    r = api.get("/api/officer/debunks/999999", as_=cast.officer)
    assert r.status_code == 404
    assert error_code(r) == "not_found"
    r = api.get("/api/officer/debunks", as_=cast.officer, params={"status": "gone"})
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    for who in (cast.member, cast.founder):
        assert api.get("/api/officer/debunks", as_=who).status_code == 403


def test_duplicate_claims_are_refused(api: Api, cast: Cast, app: Any) -> None:
    first = add(api, cast)
    # The same claim in traditional characters, full-width punctuation and spacing.
    r = api.post("/api/officer/debunks", as_=cast.officer,
                 json=entry(claim="吃 大蒜 能治癒新冠肺炎，每天生吃三瓣就不會被感染！"))
    assert r.status_code == 409
    assert error_code(r) == "debunk_duplicate"
    assert r.json()["error"]["details"]["debunk_id"] == first["id"]
    other = add(api, cast, claim="喝高度白酒可以杀死体内的新冠病毒")
    r = api.patch(f"/api/officer/debunks/{other['id']}", as_=cast.officer,
                  json={"claim": first["claim"]})
    assert r.status_code == 409
    assert error_code(r) == "debunk_duplicate"
    # Once retired, the claim may be added again.
    api.post(f"/api/officer/debunks/{first['id']}/retire", as_=cast.officer,
             json={"reason": "重写"})
    add(api, cast)
    assert len(audit_records(app, EventType.DEBUNK_ADDED)) == 3


@pytest.mark.parametrize(("field", "value"), [
    ("claim", "   "), ("claim", "！！？？"), ("refutation", ""), ("publisher", " "),
    ("source_url", "javascript:alert(1)"), ("source_url", "piyao.org.cn"),
    ("language", "中文"), ("claim", "含\x00字符"),
])
def test_bad_fields(api: Api, cast: Cast, app: Any, field: str, value: str) -> None:
    r = api.post("/api/officer/debunks", as_=cast.officer, json=entry(**{field: value}))
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    assert any(field in f["loc"] for f in r.json()["error"]["details"]["fields"])
    assert count_entries(app) == 0
    assert audit_records(app, EventType.DEBUNK_ADDED) == []


def test_retire_needs_a_reason(api: Api, cast: Cast) -> None:
    created = add(api, cast)
    r = api.post(f"/api/officer/debunks/{created['id']}/retire", as_=cast.officer,
                 json={"reason": "   "})
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"


# --- import -------------------------------------------------------------------------------


def test_import_the_starter_bank_twice(api: Api, cast: Cast, app: Any) -> None:
    lines = [x for x in STARTER_BANK.read_text(encoding="utf-8").splitlines() if x.strip()]
    assert 10 <= len(lines) <= 15
    first = load_starter(api, cast)
    assert first["imported"] == len(lines)
    assert first["duplicates"] == []
    [rec] = audit_records(app, EventType.DEBUNKS_IMPORTED)
    assert rec.extra["imported"] == first["ids"]
    assert rec.extra["source"] == "starter_bank.jsonl"
    [ev] = outbox_events(app, EventType.DEBUNKS_IMPORTED)
    assert [d["debunk_id"] for d in ev.payload["debunks"]] == first["ids"]
    # Importing it again adds nothing and says why, line by line.
    again = load_starter(api, cast)
    assert again["imported"] == 0
    assert [d["line"] for d in again["duplicates"]] == list(range(1, len(lines) + 1))
    assert {d["debunk_id"] for d in again["duplicates"]} == set(first["ids"])
    assert count_entries(app) == len(lines)
    for line in lines:  # every entry names its public source
        row = json.loads(line)
        assert row["publisher"]
        assert row["refutation"]
        assert row["verdict"] in ("false",
                                                                             "misleading")


def test_import_is_all_or_nothing_with_line_numbers(api: Api, cast: Cast, app: Any) -> None:
    good = json.dumps(entry(), ensure_ascii=False)
    content = "\n".join([
        good,
        "",  # blank lines are skipped but counted
        "{not json",
        json.dumps(entry(claim="另一条谣言的说法", verdict="fake"), ensure_ascii=False),
        json.dumps({"claim": "缺少字段的说法"}, ensure_ascii=False),
        "[1, 2]",
        json.dumps(entry(claim="第五条", refutaton="拼错的字段"), ensure_ascii=False),
    ])
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "jsonl", "content": content})
    assert r.status_code == 422
    assert error_code(r) == "debunk_import_invalid"
    details = r.json()["error"]["details"]
    assert [e["line"] for e in details["errors"]] == [3, 4, 5, 6, 7]
    assert details["error_count"] == 5
    assert "verdict" in details["errors"][1]["message"]
    assert "refutation" in details["errors"][2]["message"]
    assert "refutaton" in details["errors"][4]["message"]
    assert count_entries(app) == 0  # the good first row was not imported either
    assert audit_records(app, EventType.DEBUNKS_IMPORTED) == []


def test_import_csv_with_duplicates_inside_the_file(api: Api, cast: Cast, app: Any) -> None:
    existing = add(api, cast)
    content = (
        "claim,verdict,refutation,publisher,source_url,published_on\n"
        '喝高度白酒可以杀死体内的新冠病毒,false,"酒精不能杀灭体内病毒，饮酒伤身。",辟谣平台,,\n'
        '"喝高度白酒可以杀死体内的新冠病毒！",false,重复的一行,辟谣平台,,\n'
        f'{existing["claim"]},false,已有条目,辟谣平台,https://www.piyao.org.cn/,2020-02-02\n'
        '"多行的\n说法也可以",misleading,说明,辟谣平台,,\n')
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "csv", "content": content, "source": "batch.csv"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] == 4
    assert body["imported"] == 2
    assert body["duplicates"] == [{"line": 3, "duplicate_of_line": 2},
                                  {"line": 4, "debunk_id": existing["id"]}]
    bad = ("claim,verdict,refutation,publisher\n"
           "一条,false,说明,平台\n"
           "两条,false,说明,平台,多出来的一格\n"
           "三条,false,,平台\n"
           "四条,maybe,说明,平台\n")
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "csv", "content": bad})
    assert r.status_code == 422
    assert error_code(r) == "debunk_import_invalid"
    assert [e["line"] for e in r.json()["error"]["details"]["errors"]] == [3, 4, 5]
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "csv", "content": "claim,verdict,colour\nx,false,red\n"})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["errors"][0]["line"] == 1
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "csv", "content": " \n"})
    assert r.status_code == 422
    assert error_code(r) == "debunk_import_invalid"
    assert count_entries(app) == 3


def test_import_as_a_member_is_forbidden(api: Api, cast: Cast, app: Any) -> None:
    r = api.post("/api/officer/debunks/import", as_=cast.founder,
                 json={"format": "jsonl", "content": json.dumps(entry())})
    assert r.status_code == 403
    assert error_code(r) == "forbidden"
    assert count_entries(app) == 0


def test_cli_import(api: Api, cast: Cast, app: Any, database_url: str, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNGUAN_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["rumors", "import", str(STARTER_BANK),
                                     "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "imported 12 of 12" in result.stdout
    [rec] = audit_records(app, EventType.DEBUNKS_IMPORTED)
    assert rec.extra["source"] == "starter_bank.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(entry(claim="新的说法")) + "\n{oops\n", encoding="utf-8")
    result = runner.invoke(cli_app, ["rumors", "import", str(bad), "--database-url",
                                     database_url])
    assert result.exit_code == 1
    assert f"{bad}:2: not JSON" in result.stderr.replace("\n", "")
    assert "nothing was imported" in result.stderr
    assert count_entries(app) == 12
    again = runner.invoke(cli_app, ["rumors", "import", str(STARTER_BANK), "--database-url",
                                    database_url])
    assert again.exit_code == 0
    assert "12 duplicate(s) skipped" in again.stdout
    assert count_entries(app) == 12
