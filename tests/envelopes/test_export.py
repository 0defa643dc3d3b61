"""PAY-5: the red-envelope trail exported as JSON and CSV for a discipline inspection request,
by an officer (route) or an operator (CLI), audited; display names only."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qunguan.cli.main import app as cli_app
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.cast import pii_needles
from tests.conftest import Api, Cast, audit_records, error_code
from tests.envelopes.conftest import claim, send, topup


def _trail(api: Api, cast: Cast, clock: FixedClock) -> list[int]:
    topup(api, cast.founder, 10_000)
    first = send(api, cast.founder, cast.group["id"], 3000, 3, split="fixed").json()
    for key in ("member", "member2"):
        assert claim(api, cast[key], first["id"]).status_code == 200
    second = send(api, cast.founder, cast.group["id"], 500, 1).json()
    return [first["id"], second["id"]]


def export(api: Api, cast: Cast, **body: Any) -> Any:
    return api.post("/api/officer/envelopes/export", as_=cast.officer,
                    json={"request_reference": "纪检函〔2026〕12号", **body})


def test_json_export(api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    ids = _trail(api, cast, clock)
    r = export(api, cast)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["request_reference"] == "纪检函〔2026〕12号"
    assert [e["envelope_id"] for e in body["envelopes"]] == ids
    first = body["envelopes"][0]
    assert (first["sender_display_name"], first["total_fen"], first["parts"]) == (
        "群主乙", 3000, 3)
    assert [(c["display_name"], c["amount_fen"]) for c in first["recipients"]] == [
        ("成员丁", 1000), ("成员戊", 1000)]
    assert [t["kind"] for t in first["ledger"]] == ["envelope_send", "envelope_claim",
                                                    "envelope_claim"]
    assert all(sum(p["amount_fen"] for p in t["postings"]) == 0 for t in first["ledger"])
    for needle in pii_needles():
        assert needle not in r.text
    [record] = audit_records(app, EventType.ENVELOPES_EXPORTED)
    assert record.acting_id == cast.officer.id
    assert (record.extra["rows"], record.extra["format"]) == (2, "json")
    # Filters narrow it.
    only = export(api, cast, sender_id=cast.member.id).json()
    assert only["envelopes"] == []


def test_csv_export(api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    ids = _trail(api, cast, clock)
    r = export(api, cast, format="csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(r.text)))
    got = [(int(x["envelope_id"]), x["movement"], x["display_name"], int(x["amount_fen"]))
           for x in lines]
    assert got == [(ids[0], "sent", "群主乙", 3000), (ids[0], "claimed", "成员丁", 1000),
                   (ids[0], "claimed", "成员戊", 1000), (ids[1], "sent", "群主乙", 500)]


def test_only_officers_export(api: Api, cast: Cast, app: Any) -> None:
    r = api.post("/api/officer/envelopes/export", as_=cast.founder,
                 json={"request_reference": "x"})
    assert r.status_code == 403
    assert error_code(r) == "forbidden"
    assert audit_records(app, EventType.ENVELOPES_EXPORTED) == []
    r = export(api, cast, request_reference="   ")
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"


def test_cli_export(api: Api, cast: Cast, app: Any, clock: FixedClock, database_url: str,
                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _trail(api, cast, clock)
    monkeypatch.setenv("QUNGUAN_DATABASE_URL", database_url)
    out = tmp_path / "trail.json"
    result = CliRunner().invoke(cli_app, ["envelopes", "export", "--reference", "公安协查 7",
                                          "--out", str(out), "--group", str(cast.group["id"])])
    assert result.exit_code == 0, result.output
    assert [e["envelope_id"] for e in json.loads(out.read_text())["envelopes"]] == ids
    [record] = audit_records(app, EventType.ENVELOPES_EXPORTED)
    assert record.extra["request_reference"] == "公安协查 7"
    result = CliRunner().invoke(cli_app, ["envelopes", "export", "--reference", "x",
                                          "--format", "xml"])
    assert result.exit_code == 1
