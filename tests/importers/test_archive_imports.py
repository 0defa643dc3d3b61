"""Archive imports after `--import-into`, on SQLite and PostgreSQL: `qunguan import list` and
`qunguan import verify` (a tampered, removed or reordered event named by its seq), the
officers' API with personal data masked, and retention of archived events (purged content
still verifies through its content hash; chain 1 imports report purged links as stored)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from qunguan.cli.main import app as cli_app
from qunguan.governance.models import PurgedContent
from qunguan.identity import queries as identity_queries
from qunguan.importers import Archive
from qunguan.importers.actions import do_finish_import, do_import_batch, do_start_import
from qunguan.importers.chain import canonical, content_sha256
from qunguan.importers.loading import load_archive
from qunguan.importers.models import ArchivedEvent, ArchiveImport
from qunguan.importers.queries import verify_import
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code
from tests.governance.helpers import later, purge_all

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()
PHONE = "13911110004"  # the cast member's: an archive from elsewhere may carry it too


def load(app: Any, *files: Path) -> int:
    uow = app.state.uows()
    try:
        return load_archive(uow, Archive(list(files), "auto", False, lambda e: None)).import_id
    finally:
        uow.close()


def events_of(app: Any, import_id: int) -> list[ArchivedEvent]:
    uow = app.state.uows()
    try:
        return list(uow.session.scalars(select(ArchivedEvent).where(
            ArchivedEvent.import_id == import_id).order_by(ArchivedEvent.seq)))
    finally:
        uow.close()


def execute(app: Any, stmt: Any) -> None:
    uow = app.state.uows()
    try:
        uow.session.execute(stmt)
        uow.commit()
    finally:
        uow.close()


def check(app: Any, import_id: int) -> Any:
    uow = app.state.uows()
    try:
        return verify_import(uow, import_id)
    finally:
        uow.close()


def whatsapp(tmp_path: Path) -> Path:
    """An Android export whose senders include a bare phone number (not in the contacts)."""
    path = tmp_path / "WhatsApp Chat with 楼栋群.txt"
    path.write_text(
        f"12/06/2024, 09:15 - {PHONE}: 明天上午九点开会\n"
        "12/06/2024, 09:16 - 张老师: 有事请打我电话 +86 139 1111 0004 或者 8613911110004\n"
        "12/06/2024, 09:17 - 张老师: 收到请回复\n"
        f"12/06/2024, 09:18 - 张老师 added {PHONE}\n", encoding="utf-8")
    return path


# --- the CLI --------------------------------------------------------------------------------


def test_import_list_and_verify(app: Any, database_url: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNGUAN_DATA_DIR", str(tmp_path))
    first = load(app, FIXTURES / "wecom.jsonl")
    second = load(app, whatsapp(tmp_path))
    listed = runner.invoke(cli_app, ["import", "list", "--json", "--database-url",
                                     database_url])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert [d["id"] for d in data] == [second, first]  # newest first
    wecom = data[1]
    assert (wecom["files"], wecom["format"], wecom["status"], wecom["errors"],
            wecom["chain_version"]) == (["wecom.jsonl"], "auto", "complete", 0, 2)
    assert wecom["events"] == len(events_of(app, first)) > 0
    assert wecom["digest"] == events_of(app, first)[-1].digest
    table = runner.invoke(cli_app, ["import", "list", "--database-url", database_url])
    assert table.exit_code == 0, table.output
    assert f"{first}\t" in table.stdout
    assert f"\tcomplete\tauto\t{wecom['events']}\t0\t{wecom['digest']} (chain 2)\t" \
        "wecom.jsonl" in table.stdout

    ok = runner.invoke(cli_app, ["import", "verify", str(first), "--database-url",
                                 database_url])
    assert ok.exit_code == 0, ok.output
    assert f"archive import {first} (complete, chain 2): {wecom['events']} event(s) verify: " \
           f"OK; digest {wecom['digest']}" in ok.stdout.replace("\n", "")

    report = runner.invoke(cli_app, ["retention", "report", "--json", "--database-url",
                                     database_url])
    assert report.exit_code == 0, report.output
    kind = next(k for k in json.loads(report.stdout)["kinds"]
                if k["kind"] == "archived_events")
    assert (kind["retention_days"], kind["due_now"]) == (180, 0)
    assert kind["next_due_at"] is not None

    unknown = runner.invoke(cli_app, ["import", "verify", "999", "--database-url",
                                      database_url])
    assert unknown.exit_code == 2
    assert "no archive import 999" in unknown.stderr

    # A changed text, however carefully the row's copies are kept in step, breaks at its seq.
    row = events_of(app, first)[4]
    payload = {**row.payload, "text": "改过的内容"}
    execute(app, update(ArchivedEvent).where(ArchivedEvent.id == row.id)
            .values(payload=payload, text="改过的内容"))
    bad = runner.invoke(cli_app, ["import", "verify", str(first), "--database-url",
                                  database_url])
    assert bad.exit_code == 1
    assert f"TAMPERED at event seq {row.seq}: its content does not match its content hash" \
        in " ".join(bad.stderr.split())


def test_verify_names_the_first_event_that_does_not_verify(app: Any) -> None:
    import_id = load(app, FIXTURES / "wecom.jsonl")
    rows = events_of(app, import_id)
    assert check(app, import_id).ok
    # Content and its hash rewritten together: the chain link no longer matches.
    target = rows[6]
    payload = {**target.payload, "text": "伪造"}
    execute(app, update(ArchivedEvent).where(ArchivedEvent.id == target.id).values(
        payload=payload, text="伪造", content_sha256=content_sha256(payload)))
    result = check(app, import_id)
    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "chain link" in result.problem
    execute(app, update(ArchivedEvent).where(ArchivedEvent.id == target.id).values(
        payload=target.payload, text=target.text, content_sha256=target.content_sha256))
    assert check(app, import_id).ok
    # A copy column edited alone (the sender someone wanted to hide).
    execute(app, update(ArchivedEvent).where(ArchivedEvent.id == rows[2].id)
            .values(sender="someone-else"))
    result = check(app, import_id)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "sender column" in result.problem
    execute(app, update(ArchivedEvent).where(ArchivedEvent.id == rows[2].id)
            .values(sender=rows[2].sender))
    # A removed event.
    execute(app, delete(ArchivedEvent).where(ArchivedEvent.id == rows[3].id))
    result = check(app, import_id)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "event 4 is missing" in result.problem


def test_verify_compares_the_end_with_the_audit_record(app: Any) -> None:
    """Every row and the import's digest rewritten consistently: the digest in the audit
    record (in the tamper-evident log) still tells."""
    import_id = load(app, FIXTURES / "wecom.jsonl")
    last = events_of(app, import_id)[-1]
    execute(app, delete(ArchivedEvent).where(ArchivedEvent.id == last.id))
    execute(app, update(ArchiveImport).where(ArchiveImport.id == import_id).values(
        events=ArchiveImport.events - 1, digest=events_of(app, import_id)[-1].digest))
    result = check(app, import_id)
    assert not result.ok
    assert result.first_bad_seq is None
    assert "audit record" in result.problem


# --- the officers' API ----------------------------------------------------------------------


def test_officers_list_imports_and_read_events_masked(api: Api, app: Any, cast: Cast,
                                                      tmp_path: Path) -> None:
    first = load(app, FIXTURES / "wecom.jsonl")
    second = load(app, whatsapp(tmp_path))
    third = load(app, FIXTURES / "result.json")
    r = api.get("/api/officer/archive-imports", as_=cast.officer, params={"limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [i["id"] for i in page["items"]] == [third, second]
    assert page["next_before_id"] == second
    r = api.get("/api/officer/archive-imports", as_=cast.officer,
                params={"before_id": page["next_before_id"]})
    assert [i["id"] for i in r.json()["items"]] == [first]
    assert r.json()["next_before_id"] is None
    item = r.json()["items"][0]
    assert (item["files"], item["status"], item["chain_version"]) == \
        (["wecom.jsonl"], "complete", 2)

    r = api.get(f"/api/officer/archive-imports/{second}/events", as_=cast.officer,
                params={"limit": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["seq"] for e in body["items"]] == [1, 2]
    assert body["next_after_seq"] == 2
    rest = api.get(f"/api/officer/archive-imports/{second}/events", as_=cast.officer,
                   params={"after_seq": 2}).json()
    assert [e["seq"] for e in rest["items"]] == [3, 4]
    assert rest["next_after_seq"] is None
    # The sender that is a phone number, and the numbers in the text, are masked.
    first_event, second_event = body["items"]
    assert first_event["sender"] == "•" * len(PHONE)
    assert first_event["payload"]["sender"] == "•" * len(PHONE)
    assert first_event["text"] == "明天上午九点开会"
    assert second_event["sender"] == "张老师"
    assert second_event["text"] == "有事请打我电话 " + "•" * 17 + " 或者 " + "•" * 13
    membership = rest["items"][1]
    assert membership["payload"]["members"] == ["•" * len(PHONE)]
    for text in (r.text, json.dumps(rest, ensure_ascii=False)):
        assert PHONE not in text
    # ...though the database keeps the archive as it was read (the chain commits to it).
    assert events_of(app, second)[0].sender == PHONE


def test_archive_import_api_refuses_non_officers_and_unknown_ids(api: Api, app: Any,
                                                                 cast: Cast) -> None:
    import_id = load(app, FIXTURES / "wecom.jsonl")
    for path in ("/api/officer/archive-imports",
                 f"/api/officer/archive-imports/{import_id}/events"):
        for who in (cast.member, cast.founder, cast.newcomer):
            r = api.get(path, as_=who)
            assert (r.status_code, error_code(r)) == (403, "forbidden"), (path, who.key)
        r = api.get(path)
        assert (r.status_code, error_code(r)) == (401, "not_authenticated")
    r = api.get(f"/api/officer/archive-imports/{import_id + 100}/events", as_=cast.officer)
    assert (r.status_code, error_code(r)) == (404, "not_found")


# --- retention ------------------------------------------------------------------------------


def test_retention_purges_archived_content_and_the_chain_still_verifies(
        app: Any, api: Api, cast: Cast, clock: FixedClock, tmp_path: Path) -> None:
    import_id = load(app, whatsapp(tmp_path))
    before = events_of(app, import_id)
    digest = check(app, import_id).digest
    # The events are from 2024; the period runs from the import, so nothing is due yet.
    assert purge_all(app) == 0
    report = api.get("/api/officer/retention", as_=cast.officer).json()
    kind = next(k for k in report["kinds"] if k["kind"] == "archived_events")
    assert (kind["retention_days"], kind["setting"], kind["due_now"]) == \
        (180, "retention_archived_events_days", 0)
    assert kind["next_due_at"] is not None
    later(api, cast, clock, 181)
    report = api.get("/api/officer/retention", as_=cast.officer).json()
    assert next(k for k in report["kinds"] if k["kind"] == "archived_events")["due_now"] == \
        len(before)
    assert purge_all(app) >= len(before)

    after = events_of(app, import_id)
    assert all(e.purged_at is not None and e.text == "" for e in after)
    assert all("text" not in e.payload for e in after)
    assert [e.content_sha256 for e in after] == [e.content_sha256 for e in before]
    assert after[0].content_sha256 == hashlib.sha256(
        canonical({"text": "明天上午九点开会"})).hexdigest()
    uow = app.state.uows()
    try:
        purged = list(uow.session.scalars(select(PurgedContent).where(
            PurgedContent.kind == "archived_events").order_by(PurgedContent.row_id)))
    finally:
        uow.close()
    assert [(p.row_id, p.content_sha256) for p in purged] == \
        [(e.id, e.content_sha256) for e in before]
    record = next(r for r in audit_records(app, EventType.RETENTION_PURGED)
                  if r.extra["kind"] == "archived_events")
    assert record.extra["rows"][0] == {"id": before[0].id, "sha256": before[0].content_sha256}
    result = check(app, import_id)
    assert (result.ok, result.purged, result.unverifiable, result.digest) == \
        (True, len(before), 0, digest)
    # The API shows a purged event as gone.
    r = api.get(f"/api/officer/archive-imports/{import_id}/events", as_=cast.officer)
    assert r.json()["items"][0]["text"] is None
    assert r.json()["items"][0]["purged_at"] is not None
    # A purged event whose kept content hash was changed is tampering, not purging.
    execute(app, update(ArchivedEvent).where(ArchivedEvent.id == after[1].id)
            .values(content_sha256="0" * 64))
    result = check(app, import_id)
    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_retention_of_a_chain_1_import_reports_purged_links_as_stored(
        app: Any, clock: FixedClock) -> None:
    """Imports made before migration 0013 hashed whole payloads: once purged, their links
    are taken as stored (and said to be), never called tampered."""
    uow = app.state.uows()
    try:
        system = identity_queries.system_account(uow)
        archive = do_start_import(uow, acting=system, files=["old.jsonl"], fmt="auto")
        archive.chain_version = 1
        events = list(Archive([FIXTURES / "wecom.jsonl"]))
        do_import_batch(uow, acting=system, archive=archive, events=events[:5], errors=0)
        do_finish_import(uow, acting=system, archive=archive)
        uow.commit()
        import_id = archive.id
    finally:
        uow.close()
    assert check(app, import_id).ok
    assert all(e.content_sha256 is None for e in events_of(app, import_id))
    clock.advance(days=181)
    purge_all(app)
    rows = events_of(app, import_id)
    assert all(e.purged_at is not None for e in rows)
    result = check(app, import_id)
    assert (result.ok, result.chain_version, result.purged, result.unverifiable) == \
        (True, 1, 5, 5)
