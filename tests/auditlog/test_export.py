"""Export and offline verification: a clean export verifies with the public key only; a
tampered record is named; malformed, truncated, re-signed or altered inputs are rejected with
a message that says what failed (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from qunguan.auditlog import actions, notes
from qunguan.auditlog.export import ExportError, load_checkpoints, verify_export, write_export
from qunguan.auditlog.models import Checkpoint
from tests.auditlog.test_log import append_all, post, record_of_message, run_sql, sign
from tests.conftest import Api, Cast


def export_text(app: Any) -> str:
    uow = app.state.uows()
    try:
        cp = actions.latest_checkpoint(uow)
        assert cp is not None
        uow.rollback()
        out = io.StringIO()
        write_export(uow.session, out, origin=app.state.settings.auditlog_origin,
                     tree_size=cp.tree_size)
        return out.getvalue()
    finally:
        uow.close()


@pytest.fixture
def logged(app: Any, api: Api, cast: Cast) -> dict[str, Any]:
    messages = [post(api, cast, f"第{i}条") for i in range(3)]
    append_all(app)
    first = sign(app)
    post(api, cast, "后来的")
    append_all(app)
    second = sign(app)
    assert first is not None
    assert second is not None
    keys = actions.signing_keys(app.state.settings).verifiers()
    return {"records": [record_of_message(app, m) for m in messages],
            "checkpoints": [first.note, second.note], "keys": keys, "size": second.tree_size}


def _verify(text: str, logged: dict[str, Any], checkpoints: list[str] | None = None) -> Any:
    cps = load_checkpoints(checkpoints or logged["checkpoints"], logged["keys"])
    return verify_export(io.StringIO(text), cps)


def test_a_clean_export_verifies_against_the_checkpoint_chain(app: Any,
                                                              logged: dict[str, Any]) -> None:
    report = _verify(export_text(app), logged)
    assert report.ok, report.problems
    assert report.records == report.verified_size == logged["size"]
    lines = export_text(app).splitlines()
    assert json.loads(lines[0])["tree_size"] == logged["size"]
    assert json.loads(lines[-1]) == {"end": True, "count": logged["size"]}


def test_a_tampered_record_is_named(app: Any, logged: dict[str, Any]) -> None:
    target = logged["records"][1]
    run_sql(app, "UPDATE audit_records SET subject_id = '999' WHERE id = :id", id=target)
    report = _verify(export_text(app), logged)
    assert not report.ok
    assert report.first_problem.startswith(f"record {target} (leaf")
    assert "differs from what was logged" in report.first_problem


def test_records_reordered_in_the_database_are_named(app: Any,
                                                      logged: dict[str, Any]) -> None:
    """Two records swap places (their time and subject): both leaves fail, the first named."""
    a, b = logged["records"][0], logged["records"][2]
    with app.state.engine.begin() as conn:
        rows = dict(conn.execute(text("SELECT id, subject_id FROM audit_records WHERE id IN "
                                      "(:a, :b)"), {"a": a, "b": b}).all())
    run_sql(app, "UPDATE audit_records SET subject_id = :s WHERE id = :id", s=rows[b], id=a)
    run_sql(app, "UPDATE audit_records SET subject_id = :s WHERE id = :id", s=rows[a], id=b)
    report = _verify(export_text(app), logged)
    assert report.first_problem.startswith(f"record {a} (leaf")
    assert [p.split(" (")[0] for p in report.problems] == [f"record {a}", f"record {b}"]


def test_a_deleted_record_is_named(app: Any, logged: dict[str, Any]) -> None:
    target = logged["records"][0]
    run_sql(app, "DELETE FROM audit_records WHERE id = :id", id=target)
    report = _verify(export_text(app), logged)
    assert report.first_problem == (f"record {target} (leaf "
                                    f"{report.first_problem.split('leaf ')[1].split(')')[0]}) "
                                    "is missing: it was deleted")


def test_purged_content_still_verifies(app: Any, logged: dict[str, Any]) -> None:
    """A purge replaces a record's content; its leaf commits only to the content's hash."""
    target = logged["records"][2]
    run_sql(app, "UPDATE audit_records SET extra = :e, source_ip = NULL WHERE id = :id",
            e=json.dumps({"purged": {"by_record": 1}}), id=target)
    report = _verify(export_text(app), logged)
    assert report.ok, report.problems
    assert report.purged == 1


def test_changed_bytes_in_the_export_are_rejected(app: Any, logged: dict[str, Any]) -> None:
    text = export_text(app)
    lines = text.splitlines(keepends=True)
    # one byte of a leaf entry
    line = json.loads(lines[3])
    line["leaf"] = line["leaf"].replace('"v":1', '"v":2')
    changed = "".join([*lines[:3], json.dumps(line, ensure_ascii=False) + "\n", *lines[4:]])
    report = _verify(changed, logged)
    assert "does not verify" in report.first_problem
    # one byte of a leaf hash: the leaves no longer give the signed root
    line = json.loads(lines[2])
    line["h"] = ("0" if line["h"][0] != "0" else "1") + line["h"][1:]
    changed = "".join([*lines[:2], json.dumps(line, ensure_ascii=False) + "\n", *lines[3:]])
    report = _verify(changed, logged)
    assert any("do not match the checkpoint of size" in p for p in report.problems)
    # two lines swapped
    swapped = "".join([lines[0], lines[2], lines[1], *lines[3:]])
    with pytest.raises(ExportError, match="reordered or has gaps"):
        _verify(swapped, logged)


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda t: "", "line 1: not JSON"),
    (lambda t: "{}\n" + t, "not a qunguan audit log export header"),
    (lambda t: "".join(t.splitlines(keepends=True)[:-3]), "truncated"),
    (lambda t: t[: len(t) // 2], "not JSON|truncated"),
    (lambda t: t.replace("\n", "\n[1,2]\n", 2), "not a JSON object"),
    (lambda t: "".join(t.splitlines(keepends=True)[:-1]) + '{"end": true, "count": 1}\n',
     "the end line counts 1"),
    (lambda t: "".join(t.splitlines(keepends=True)[:-3]) + json.dumps(
        {"end": True, "count": len(t.splitlines()) - 4}) + "\n", "its header says"),
])
def test_malformed_or_truncated_exports(app: Any, logged: dict[str, Any], mangle: Any,
                                        message: str) -> None:
    with pytest.raises(ExportError, match=message):
        _verify(mangle(export_text(app)), logged)


def test_bad_checkpoints(app: Any, logged: dict[str, Any]) -> None:
    text = export_text(app)
    good = logged["checkpoints"][-1]
    origin = app.state.settings.auditlog_origin
    stranger = notes.sign_note(notes.checkpoint_body(origin, logged["size"], b"\x01" * 32),
                               origin, Ed25519PrivateKey.generate())
    with pytest.raises(ExportError, match="signed by an unknown key"):
        _verify(text, logged, [stranger])
    lines = good.split("\n")
    altered = "\n".join([lines[0], str(logged["size"] - 1), *lines[2:]])
    with pytest.raises(ExportError, match="does not verify"):
        _verify(text, logged, [altered])
    with pytest.raises(ExportError, match="not a signed note"):
        _verify(text, logged, [good.replace("\n\n", "\n")])
    body = notes.checkpoint_body(origin, logged["size"] + 5, b"\x02" * 32)
    uow = app.state.uows()
    try:
        key = actions.signing_keys(app.state.settings).current()
    finally:
        uow.close()
    beyond = notes.sign_note(body, origin, key)
    with pytest.raises(ExportError, match="beyond the export"):
        _verify(text, logged, [beyond])
    with pytest.raises(ExportError, match="no checkpoint given"):
        verify_export(io.StringIO(text), [])
    forged_root = notes.sign_note(notes.checkpoint_body(origin, logged["size"], b"\x03" * 32),
                                  origin, key)
    report = _verify(text, logged, [forged_root])
    assert "do not match the checkpoint" in report.first_problem


def test_checkpoint_rows_keep_the_root_in_base64_of_the_note(app: Any,
                                                             logged: dict[str, Any]) -> None:
    uow = app.state.uows()
    try:
        cp = uow.session.get(Checkpoint, 1)
        assert cp is not None
        assert cp.note.split("\n")[2] == base64.b64encode(cp.root_hash).decode()
    finally:
        uow.close()


def test_record_proofs_for_a_case_bundle_verify_offline(app: Any, logged: dict[str, Any],
                                                        cast: Cast) -> None:
    from qunguan.auditlog import queries
    from qunguan.auditlog.export import verify_record_proofs
    from qunguan.identity import queries as identity_queries

    uow = app.state.uows()
    try:
        officer = identity_queries.get_account(uow, cast.officer.id)
        bundle = queries.proofs_for_records(uow, viewer=officer, record_ids=logged["records"])
    finally:
        uow.close()
    proofs = [p.as_dict() for p in bundle.proofs]
    assert json.loads(json.dumps(proofs)) == proofs
    assert verify_record_proofs(bundle.checkpoint.note, proofs, logged["keys"]) == []
    proofs[1]["leaf"] = proofs[1]["leaf"].replace('"v":1', '"v":9')
    proofs[2]["proof"] = proofs[2]["proof"][:-1]
    problems = verify_record_proofs(bundle.checkpoint.note, proofs, logged["keys"])
    assert problems == [
        f"record {logged['records'][1]} (leaf {proofs[1]['leaf_index']}) does not verify: "
        "it differs from what was logged",
        f"record {logged['records'][2]} (leaf {proofs[2]['leaf_index']}): not in the signed "
        "tree"]
    assert verify_record_proofs(bundle.checkpoint.note, [{"leaf": 1}], logged["keys"]) == [
        "proof 1: malformed"]
    assert verify_record_proofs("garbage", proofs, logged["keys"])[0].startswith("checkpoint:")
