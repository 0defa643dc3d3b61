"""`qunguan audit --import-into`: archives loaded into the database, on SQLite and
PostgreSQL, with their audit records, outbox events and a verifiable hash chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from qunguan.cli.main import app as cli_app
from qunguan.importers.actions import GENESIS, verify_import
from qunguan.importers.models import ArchivedEvent, ArchiveImport
from qunguan.kernel.events import EventType
from tests.conftest import audit_records, outbox_events

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


def stored(app: Any) -> tuple[list[ArchiveImport], list[ArchivedEvent]]:
    uow = app.state.uows()
    try:
        imports = list(uow.session.scalars(select(ArchiveImport).order_by(ArchiveImport.id)))
        events = list(uow.session.scalars(select(ArchivedEvent).order_by(ArchivedEvent.id)))
        return imports, events
    finally:
        uow.close()


def test_import_into_loads_every_event_with_audit_records(app: Any, database_url: str,
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("QUNGUAN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("qunguan.importers.loading.BATCH", 10)
    result = runner.invoke(cli_app, ["audit", str(FIXTURES / "wecom.jsonl"),
                                     str(FIXTURES / "result.json"), "--import-into",
                                     "--database-url", database_url])
    assert result.exit_code == 0, result.output
    [imported], events = stored(app)
    assert "archive import 1 complete: 32 event(s) loaded" in result.stdout
    assert (imported.status, imported.events, imported.errors) == ("complete", 32, 0)
    assert imported.files == ["wecom.jsonl", "result.json"]
    assert [e.seq for e in events] == list(range(1, 33))
    envelope = next(e for e in events if e.external_id == "1018_1718001080000_external")
    assert (envelope.kind, envelope.amount_fen) == ("red_envelope", 4100000)
    assert envelope.payload["parts"] == 41
    [started] = audit_records(app, EventType.ARCHIVE_IMPORT_STARTED)
    assert started.subject_id == str(imported.id)
    batches = audit_records(app, EventType.ARCHIVE_BATCH_IMPORTED)
    assert [(b.extra["first_seq"], b.extra["last_seq"]) for b in batches] == \
        [(1, 10), (11, 20), (21, 30), (31, 32)]
    [done] = audit_records(app, EventType.ARCHIVE_IMPORTED)
    assert done.extra["digest"] == imported.digest == events[-1].digest != GENESIS
    assert done.extra["events"] == 32
    assert len(outbox_events(app, EventType.ARCHIVE_BATCH_IMPORTED)) == 4
    uow = app.state.uows()
    try:
        assert verify_import(uow, imported.id).ok
        # a changed event breaks the chain at its place
        uow.session.execute(update(ArchivedEvent).where(ArchivedEvent.seq == 7)
                            .values(payload={**events[6].payload, "text": "changed"}))
        uow.commit()
        check = verify_import(uow, imported.id)
        assert not check.ok
        assert check.first_bad_seq == 7
    finally:
        uow.close()


def test_import_into_reports_bad_lines_and_strict_stops(app: Any, database_url: str,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv("QUNGUAN_DATA_DIR", str(tmp_path))
    bad = tmp_path / "bad.jsonl"
    lines = (FIXTURES / "wecom.jsonl").read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join([*lines[:4], "{oops", *lines[4:]]) + "\n", encoding="utf-8")
    result = runner.invoke(cli_app, ["audit", str(bad), "--import-into", "--database-url",
                                     database_url])
    assert result.exit_code == 1
    assert f"{bad}:5: not JSON" in result.stderr.replace("\n", "")
    strict = runner.invoke(cli_app, ["audit", str(bad), "--import-into", "--strict",
                                     "--database-url", database_url])
    assert strict.exit_code == 1
    first, second = stored(app)[0]
    assert (first.status, first.events, first.errors) == ("complete", 22, 1)
    assert (second.status, second.events, second.errors) == ("stopped", 3, 1)
    assert [r.extra["status"] for r in audit_records(app, EventType.ARCHIVE_IMPORTED)] == \
        ["complete", "stopped"]
