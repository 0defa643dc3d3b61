"""Case export (issue 6 part 7): the bundle of a case as JSON and HTML, through the API and
`qunguan case export`, checked offline by `qunguan auditlog verify-bundle`; a malformed,
truncated or edited bundle (any one byte) is rejected naming what failed."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qunguan.auditlog import actions as auditlog_actions
from qunguan.auditlog import notes
from qunguan.cli.main import app as cli
from qunguan.config import Settings
from qunguan.governance import bundle as bundle_files
from qunguan.governance import proofs
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.enforcement.review_helpers import second_officer
from tests.governance.helpers import decided_case, drain, post


def sanctioned_case(api: Api, app: Any, cast: Cast) -> tuple[int, dict[str, Any]]:
    """member2 posts spam amid ordinary talk; member reports it; the officer removes it and
    restricts member2; member2 appeals the sanction's statement; a second officer upholds."""
    gid = cast.group["id"]
    post(api, cast.member, gid, "明天上午九点开会")
    spam = post(api, cast.member2, gid, "转发这个抽奖链接领大奖")
    post(api, cast.founder, gid, "请大家不要转发抽奖链接")
    case_id = decided_case(api, app, cast, spam["id"], "sanction", reason="反复刷屏",
                           sanction={"kind": "restrict", "duration_seconds": 86400,
                                     "functions": ["forward"]})
    statements = api.get("/api/me/statements", as_=cast.member2).json()
    restrict = next(s for s in statements if s["sanction_id"] is not None)
    r = api.post(f"/api/me/statements/{restrict['id']}/appeal", as_=cast.member2,
                 json={"text": "我只是转发了一次"})
    assert r.status_code == 201, r.text
    officer2 = second_officer(app, cast)
    r = api.post(f"/api/officer/appeals/{r.json()['id']}/decide", as_=officer2,
                 json={"outcome": "upheld", "reason": "记录显示多次发布"})
    assert r.status_code == 200, r.text
    drain(app)
    return case_id, spam


def keys_of(settings: Settings) -> list[str]:
    return [v.text for v in auditlog_actions.signing_keys(settings).verifiers()]


def check(raw: bytes, html: bytes | None, settings: Settings) -> bundle_files.Verified:
    return bundle_files.verify(raw, html, check_proofs=proofs.checker(keys_of(settings)))


def export(api: Api, cast: Cast, case_id: int) -> tuple[dict[str, Any], str]:
    r = api.post(f"/api/officer/cases/{case_id}/export", as_=cast.officer)
    assert r.status_code == 200, r.text
    body = r.json()
    return body["bundle"], body["report_html"]


def test_bundle_holds_the_whole_case(api: Api, app: Any, cast: Cast,
                                     settings: Settings) -> None:
    case_id, spam = sanctioned_case(api, app, cast)
    bundle, html = export(api, cast, case_id)
    s = bundle["sections"]
    assert bundle["format"] == "qunguan-case-bundle/1"
    assert s["case"]["review_item_id"] == case_id
    assert s["case"]["subject_id"] == spam["id"]
    assert [r["reporter_id"] for r in s["reports"]] == [cast.member2.id]
    texts = [m["text"] for m in s["messages"]]
    assert "明天上午九点开会" in texts
    assert "请大家不要转发抽奖链接" in texts
    subject = next(m for m in s["messages"] if m["is_subject"])
    assert subject["id"] == spam["id"]
    assert subject["text"] is None  # removed by the decision; its text is in the record
    assert [d["decision"] for d in s["decisions"]] == ["sanction"]
    assert [x["kind"] for x in s["sanctions"]] == ["restrict"]
    assert {x["measure"] for x in s["statements"]} >= {"restrict"}
    assert [a["status"] for a in s["appeals"]] == ["upheld"]
    assert s["ledger"]["envelopes"] == []
    assert s["cascade"]["cluster_id"] >= 1
    types = {r["type"] for r in s["audit_records"]}
    assert {"report_filed", "review_item_decided", "sanction_imposed", "statement_issued",
            "appeal_filed", "appeal_decided", "message_removed"} <= types
    removed = next(r for r in s["audit_records"] if r["type"] == "message_removed")
    assert "转发这个抽奖链接领大奖" in json.dumps(removed["extra"], ensure_ascii=False)
    # The readable report says the same, and names no legal name.
    assert "案件材料 Case" in html
    assert "反复刷屏" in html
    assert "我只是转发了一次" in html
    for person in cast.values():
        if person.legal_name:
            assert person.legal_name not in html
            assert person.legal_name not in json.dumps(bundle, ensure_ascii=False)
    (record,) = audit_records(app, EventType.CASE_EXPORTED)
    assert record.acting_id == cast.officer.id
    assert record.extra["bundle_sha256"] == bundle["bundle_sha256"]
    assert outbox_events(app, EventType.CASE_EXPORTED)
    result = check(bundle_files.file_bytes(bundle), html.encode(), settings)
    assert result.case_id == case_id
    assert result.records == len(s["audit_records"])
    assert result.proven == result.records  # every record proven in the signed checkpoint
    assert bundle["proofs"]["tree_size"] >= max(r["id"] for r in s["audit_records"])
    assert record.extra["checkpoint_size"] == bundle["proofs"]["tree_size"]


def test_ledger_extract_lists_the_culprits_envelopes(api: Api, app: Any, cast: Cast) -> None:
    gid = cast.group["id"]
    headers = {**cast.member2.auth, "Idempotency-Key": "topup-1"}
    r = api.post("/api/me/wallet/topup", json={"amount_fen": 5000}, headers=headers)
    assert r.status_code == 201, r.text
    r = api.post(f"/api/groups/{gid}/envelopes", json={"total_fen": 888, "parts": 2,
                                                        "split": "fixed"},
                 headers={**cast.member2.auth, "Idempotency-Key": "env-1"})
    assert r.status_code == 201, r.text
    envelope_id = r.json()["id"]
    spam = post(api, cast.member2, gid, "选我当组长，红包已发")
    case_id = decided_case(api, app, cast, spam["id"])
    bundle, _ = export(api, cast, case_id)
    ledger = bundle["sections"]["ledger"]
    assert [(e["id"], e["total_fen"]) for e in ledger["envelopes"]] == [(envelope_id, 888)]
    assert any(r["type"] == "envelope_sent" for r in bundle["sections"]["audit_records"])


def test_export_needs_an_officer_and_a_case(api: Api, cast: Cast) -> None:
    r = api.post("/api/officer/cases/987654/export", as_=cast.officer)
    assert r.status_code == 404
    assert error_code(r) == "not_found"
    r = api.post("/api/officer/cases/1/export", as_=cast.member)
    assert r.status_code == 403


def cli_export(settings: Settings, tmp_path: Path, case_id: int) -> Path:
    out = tmp_path / "bundle"
    result = CliRunner().invoke(cli, ["case", "export", str(case_id), "--out", str(out),
                                      "--database-url", settings.database_url],
                                env={"QUNGUAN_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    return out / f"case-{case_id}.json"


def key_file(settings: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "verifier-keys.txt"
    path.write_text("\n".join(keys_of(settings)) + "\n")
    return path


def verify_cli(path: Path, keys: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["auditlog", "verify-bundle", str(path), "--key",
                                      str(keys), *extra])
    return result.exit_code, " ".join(result.output.split())


def test_cli_export_then_verify_offline(api: Api, app: Any, cast: Cast, settings: Settings,
                                        tmp_path: Path) -> None:
    case_id, _ = sanctioned_case(api, app, cast)
    path = cli_export(settings, tmp_path, case_id)
    assert path.with_suffix(".html").exists()
    code, out = verify_cli(path, key_file(settings, tmp_path))
    assert code == 0, out
    assert f"case {case_id}" in out
    assert "OK" in out
    records = len(json.loads(path.read_bytes())["sections"]["audit_records"])
    assert f"{records} audit record(s), {records} proven in the signed log" in out
    (record,) = audit_records(app, EventType.CASE_EXPORTED)
    assert record.extra["case_id"] == case_id
    code, out = CliRunner().invoke(cli, ["case", "export", "987654", "--out", str(tmp_path),
                                         "--database-url", settings.database_url],
                                   env={"QUNGUAN_DATA_DIR": str(tmp_path)}).exit_code, ""
    assert code == 1


@pytest.fixture
def exported(api: Api, app: Any, cast: Cast, settings: Settings, tmp_path: Path) -> Path:
    case_id, _ = sanctioned_case(api, app, cast)
    return cli_export(settings, tmp_path, case_id)


def test_every_changed_byte_is_rejected(exported: Path, backend: str,
                                        settings: Settings) -> None:
    if backend != "sqlite":
        pytest.skip("the bundle format does not depend on the database")
    raw = exported.read_bytes()
    html = exported.with_suffix(".html").read_bytes()
    step = max(1, len(raw) // 400)  # ~400 positions spread over the whole file
    for at in range(0, len(raw), step):
        changed = bytearray(raw)
        changed[at] = (changed[at] + 1) % 256
        with pytest.raises(bundle_files.BundleError) as exc:
            check(bytes(changed), html, settings)
        assert str(exc.value), at


def test_verify_names_what_failed(exported: Path, tmp_path: Path, backend: str,
                                  settings: Settings) -> None:
    if backend != "sqlite":
        pytest.skip("the bundle format does not depend on the database")
    raw = exported.read_bytes()
    bundle = json.loads(raw)
    html = exported.with_suffix(".html")
    keys = key_file(settings, tmp_path)

    def rejected(data: bytes, *args: str) -> str:
        bad = tmp_path / "bad" / exported.name
        bad.parent.mkdir(exist_ok=True)
        bad.write_bytes(data)
        if not args:
            bad.with_suffix(".html").write_bytes(html.read_bytes())
        code, out = verify_cli(bad, keys, *args)
        assert code == 1, out
        assert "REJECTED" in out
        return out

    # A message text edited (and the file kept canonical): its section is named.
    edited = json.loads(raw)
    edited["sections"]["messages"][0]["text"] = "篡改过的内容"
    assert "section 'messages' does not match its digest" in rejected(
        bundle_files.file_bytes(edited))
    # Truncated.
    assert "not valid JSON" in rejected(raw[: len(raw) // 2])
    assert "not valid JSON" in rejected(b"")
    # Not a bundle at all.
    assert "not a JSON object" in rejected(b"[1, 2, 3]\n")
    assert "unknown bundle format" in rejected(b'{"format": "zip"}\n')
    # A digest edited.
    edited = json.loads(raw)
    edited["bundle_sha256"] = "0" * 64
    assert "bundle digest" in rejected(bundle_files.file_bytes(edited))
    # Whitespace only: the canonical form catches it.
    assert "canonical form" in rejected(raw.replace(b"\n", b"\n ", 1))
    # The HTML report edited.
    bad_html = tmp_path / "other.html"
    bad_html.write_bytes(html.read_bytes().replace("反复刷屏".encode(), "无违规".encode()))
    assert "HTML report does not match" in rejected(raw, "--html", str(bad_html))
    # An unreadable file: exit 2, no traceback.
    code, out = verify_cli(tmp_path / "missing.json", keys)
    assert code == 2
    assert "cannot read" in out

    def resealed(edit: Any) -> bytes:
        """Edited, with every digest recomputed: what the digests alone cannot catch."""
        b = json.loads(raw)
        edit(b)
        html_text = html.read_text()
        del b["digests"], b["bundle_sha256"]
        return bundle_files.file_bytes(bundle_files.seal(b, html_text))

    def reword(b: dict[str, Any]) -> None:
        record = next(r for r in b["sections"]["audit_records"]
                      if r["type"] == "review_item_decided")
        record["extra"]["reason"] = "无违规"
    out = rejected(resealed(reword))
    assert "differs from what the audit log recorded" in out
    record_id = next(r["id"] for r in bundle["sections"]["audit_records"]
                     if r["type"] == "review_item_decided")
    assert f"audit record {record_id}" in out

    def retext(b: dict[str, Any]) -> None:
        message = next(m for m in b["sections"]["messages"] if m["text"])
        message["text"] = message["text"] + "（已核实）"
    assert "its text differs from the one its proven audit record" in rejected(resealed(retext))

    def resend(b: dict[str, Any]) -> None:
        message = next(m for m in b["sections"]["messages"] if m["text"])
        message["sender_id"] = message["sender_id"] + 1
    assert "its sender or group differs" in rejected(resealed(resend))

    def drop_proof(b: dict[str, Any]) -> None:
        b["proofs"]["records"] = b["proofs"]["records"][1:]
    assert "has no inclusion proof" in rejected(resealed(drop_proof))

    def bend_proof(b: dict[str, Any]) -> None:
        entry = next(e for e in b["proofs"]["records"] if e["proof"])
        entry["proof"][0] = base64.b64encode(bytes(32)).decode()
    assert "not in the signed tree" in rejected(resealed(bend_proof))

    def forge_checkpoint(b: dict[str, Any]) -> None:
        b["proofs"]["checkpoint"] = b["proofs"]["checkpoint"].replace(
            f"\n{b['proofs']['tree_size']}\n", f"\n{b['proofs']['tree_size'] + 1}\n", 1)
    assert "checkpoint: signature by" in rejected(resealed(forge_checkpoint))

    # A checkpoint signed by a key the inspector does not trust.
    stranger = tmp_path / "stranger"
    other = notes.SigningKeys(stranger, settings.auditlog_origin).verifiers()[-1].text
    (tmp_path / "other-keys.txt").write_text(other + "\n")
    code, out = verify_cli(exported, tmp_path / "other-keys.txt")
    assert code == 1
    assert "signed by an unknown key" in out


def test_a_bundle_without_its_html_says_so(exported: Path, tmp_path: Path,
                                           backend: str, settings: Settings) -> None:
    if backend != "sqlite":
        pytest.skip("the bundle format does not depend on the database")
    alone = tmp_path / "alone" / exported.name
    alone.parent.mkdir()
    alone.write_bytes(exported.read_bytes())
    code, out = verify_cli(alone, key_file(settings, tmp_path))
    assert code == 0
    assert "HTML report was not checked" in out


def test_a_bundle_still_verifies_after_retention_purged_its_evidence(
        api: Api, app: Any, cast: Cast, settings: Settings, clock: Any) -> None:
    from tests.governance.helpers import later, purge_all
    from tests.governance.test_retention import bring_log_up_to_date

    case_id, _ = sanctioned_case(api, app, cast)
    bring_log_up_to_date(app)
    later(api, cast, clock, 401)  # past every retention period; the case is decided
    purge_all(app)
    bundle, html = export(api, cast, case_id)
    removed = next(r for r in bundle["sections"]["audit_records"]
                   if r["type"] == "message_removed")
    assert removed["extra"]["purged"]["kind"] == "audit_content"
    subject = next(m for m in bundle["sections"]["messages"] if m["is_subject"])
    assert subject["text"] is None
    others = [m for m in bundle["sections"]["messages"] if not m["is_subject"]]
    assert all(m["text"] is None and m["purged_sha256"] for m in others)
    result = check(bundle_files.file_bytes(bundle), html.encode(), settings)
    assert result.proven == result.records


def test_a_case_about_an_account_exports_too(api: Api, app: Any, cast: Cast,
                                             settings: Settings) -> None:
    from tests.governance.helpers import report

    report(api, cast.member, "account", cast.member2.id, reason="harassment")
    drain(app)
    items = api.get("/api/officer/review", as_=cast.officer).json()
    case_id = next(i["id"] for i in items if i["subject_type"] == "account")
    bundle, html = export(api, cast, case_id)
    s = bundle["sections"]
    assert s["case"]["subject_type"] == "account"
    assert s["messages"] == []
    assert s["cascade"] is None
    assert "The subject belongs to no content cluster." in html
    assert any(r["type"] == "report_filed" for r in s["audit_records"])
    result = check(bundle_files.file_bytes(bundle), html.encode(), settings)
    assert result.proven == result.records
