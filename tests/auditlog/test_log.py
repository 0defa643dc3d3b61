"""The stored Merkle log: appends, checkpoints, proofs through the API, key rotation, the
self-check against tampering, and concurrent writers (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from qunguan.auditlog import actions, leaves, merkle, notes
from qunguan.auditlog import log as store
from qunguan.auditlog.models import Checkpoint, LogLeaf, LogState
from qunguan.auditlog.worker import append_pass, self_check_pass
from qunguan.identity import queries as identity_queries
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.uow import record_audit
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events


def append_all(app: Any) -> None:
    """Append every committed record (no checkpoint: the worker's pass would sign one)."""
    uow = app.state.uows()
    try:
        system = identity_queries.system_account(uow)
        uow.commit()
        while actions.do_append(uow, acting=system):
            pass
    finally:
        uow.close()


def sign(app: Any, force: bool = False) -> Checkpoint | None:
    uow = app.state.uows()
    try:
        system = identity_queries.system_account(uow)
        cp = actions.do_sign_checkpoint(uow, acting=system, force=force)
        uow.commit()
        return cp
    finally:
        uow.close()


def post(api: Api, cast: Cast, text_: str) -> int:
    r = api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast.member,
                 json={"text": text_})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def record_of_message(app: Any, message_id: int) -> int:
    rows = [r for r in audit_records(app, EventType.MESSAGE_POSTED)
            if r.subject_id == str(message_id)]
    assert len(rows) == 1
    return rows[0].id


def run_sql(app: Any, sql: str, **params: Any) -> None:
    with app.state.engine.begin() as conn:
        conn.execute(text(sql), params)


def self_check(app: Any) -> list[str]:
    uow = app.state.uows()
    try:
        system = identity_queries.system_account(uow)
        uow.commit()
        problems = actions.do_self_check(uow, acting=system)
        uow.commit()
        return problems
    finally:
        uow.close()


def verifiers(app: Any) -> list[notes.Verifier]:
    return actions.signing_keys(app.state.settings).verifiers()


def test_every_record_becomes_a_leaf_in_id_order(app: Any, api: Api, cast: Cast) -> None:
    post(api, cast, "第一条")
    append_all(app)
    uow = app.state.uows()
    try:
        records = list(uow.session.scalars(select(AuditRecord).order_by(AuditRecord.id)))
        logged = list(uow.session.scalars(select(LogLeaf).order_by(LogLeaf.leaf_index)))
        st = uow.session.get(LogState, 1)
        assert [leaf.record_id for leaf in logged] == [r.id for r in records]
        assert [leaf.leaf_index for leaf in logged] == list(range(len(records)))
        entries = [leaves.leaf_entry(r) for r in records]
        assert st.tree_size == len(records)
        assert st.root_hash == merkle.root_hash(entries)
        assert store.root_at(uow.session, 3) == merkle.root_hash(entries[:3])
        first = leaves.parse_leaf(entries[0])
        assert first["record_id"] == records[0].id
        assert first["occurred_at"].endswith("Z")
        assert len(first["occurred_at"]) == 27
    finally:
        uow.close()


def test_checkpoint_and_proofs_verify_with_the_public_key(app: Any, api: Api,
                                                          cast: Cast) -> None:
    r = api.get("/api/officer/auditlog/checkpoint", as_=cast.officer)
    assert r.status_code == 409
    assert error_code(r) == "no_checkpoint"
    append_all(app)
    first_cp = sign(app)
    assert first_cp is not None
    assert sign(app) is None  # nothing new to sign
    message = post(api, cast, "需要证明的消息")
    append_all(app)
    second = sign(app)
    assert second is not None
    assert second.tree_size > first_cp.tree_size
    events = outbox_events(app, EventType.AUDITLOG_CHECKPOINT_SIGNED)
    assert [e.payload["tree_size"] for e in events] == [first_cp.tree_size, second.tree_size]

    r = api.get("/api/officer/auditlog/checkpoint", as_=cast.officer)
    assert r.status_code == 200, r.text
    body = r.json()
    keys = [notes.parse_verifier(k) for k in body["verifier_keys"]]
    info = notes.open_checkpoint(body["note"], keys, origin="qunguan.local/auditlog")
    assert info.size == second.tree_size == body["tree_size"]
    assert body["note"].splitlines()[0] == "qunguan.local/auditlog"

    record_id = record_of_message(app, message)
    r = api.get(f"/api/officer/audit-records/{record_id}/proof", as_=cast.officer)
    assert r.status_code == 200, r.text
    p = r.json()
    leaf = p["leaf"].encode()
    assert leaves.parse_leaf(leaf)["record_id"] == record_id
    proof = [base64.b64decode(h) for h in p["proof"]]
    assert merkle.verify_inclusion(merkle.leaf_hash(leaf), p["leaf_index"], p["tree_size"],
                                   proof, info.root)
    assert p["checkpoint"] == body["note"]

    r = api.get(f"/api/officer/auditlog/consistency?first={first_cp.tree_size}",
                as_=cast.officer)
    assert r.status_code == 200, r.text
    c = r.json()
    assert merkle.verify_consistency(first_cp.tree_size, second.tree_size, first_cp.root_hash,
                                     info.root, [base64.b64decode(h) for h in c["proof"]])


def test_proof_errors(app: Any, api: Api, cast: Cast) -> None:
    append_all(app)
    cp = sign(app)
    assert cp is not None
    message = post(api, cast, "尚未记录")
    record_id = record_of_message(app, message)
    r = api.get(f"/api/officer/audit-records/{record_id}/proof", as_=cast.officer)
    assert r.status_code == 409
    assert error_code(r) == "not_yet_logged"
    assert r.json()["error"]["details"]["tree_size"] == cp.tree_size
    r = api.get(f"/api/officer/audit-records/{record_id}/proof?tree_size={cp.tree_size + 99}",
                as_=cast.officer)
    assert r.status_code == 422
    assert error_code(r) == "beyond_tree_size"
    r = api.get(f"/api/officer/auditlog/consistency?first=1&second={cp.tree_size + 1}",
                as_=cast.officer)
    assert r.status_code == 422
    assert error_code(r) == "beyond_tree_size"
    r = api.get(f"/api/officer/auditlog/consistency?first={cp.tree_size}&second=1",
                as_=cast.officer)
    assert r.status_code == 422
    assert error_code(r) == "invalid_request"
    r = api.get("/api/officer/audit-records/999999/proof", as_=cast.officer)
    assert r.status_code == 404
    for person in (cast.member, cast.founder):
        r = api.get("/api/officer/auditlog/checkpoint", as_=person)
        assert r.status_code == 403
        assert error_code(r) == "forbidden"


def test_an_auditor_without_a_login_polls_checkpoints_and_checks_they_only_grow(
        app: Any, api: Api, cast: Cast) -> None:
    """What a witness does: fetch the keys and the checkpoint, later the next checkpoint and
    the consistency proof between the two, with no account; nothing of a record is shown."""
    r = api.get("/api/auditlog/checkpoint")
    assert r.status_code == 409
    assert error_code(r) == "no_checkpoint"
    append_all(app)
    assert sign(app) is not None
    r = api.get("/api/auditlog/keys")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    keys = [notes.parse_verifier(line) for line in r.text.splitlines()]
    assert [k.text for k in keys] == [v.text for v in verifiers(app)]
    r = api.get("/api/auditlog/checkpoint")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["cache-control"] == "no-cache"
    old = notes.open_checkpoint(r.text, keys, origin="qunguan.local/auditlog")

    post(api, cast, "之后追加的记录")
    append_all(app)
    assert sign(app) is not None
    new = notes.open_checkpoint(api.get("/api/auditlog/checkpoint").text, keys)
    assert new.size > old.size
    r = api.get(f"/api/auditlog/consistency?first={old.size}&second={new.size}")
    assert r.status_code == 200, r.text
    proof = [base64.b64decode(h) for h in r.json()["proof"]]
    assert merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    # A rewritten history would not verify: the proof does not join another old root.
    assert not merkle.verify_consistency(old.size, new.size, bytes(32), new.root, proof)
    r = api.get(f"/api/auditlog/consistency?first=1&second={new.size + 5}")
    assert r.status_code == 422
    assert error_code(r) == "beyond_tree_size"
    # An inclusion proof carries the record's leaf: officers only, as before.
    assert api.get("/api/officer/auditlog/checkpoint").status_code == 401

    app.state.settings.auditlog_public = False
    for path in ("/api/auditlog/checkpoint", "/api/auditlog/keys",
                 f"/api/auditlog/consistency?first=1&second={new.size}"):
        r = api.get(path)
        assert r.status_code == 404, path
        assert error_code(r) == "not_found"


def test_key_rotation_keeps_old_checkpoints_verifiable(app: Any, api: Api,
                                                       cast: Cast) -> None:
    append_all(app)
    old = sign(app)
    assert old is not None
    uow = app.state.uows()
    try:
        new_key = actions.do_rotate_signing_key(uow, acting=identity_queries.system_account(uow))
        uow.commit()
    finally:
        uow.close()
    rotated = audit_records(app, EventType.AUDITLOG_KEY_ROTATED)
    assert rotated[-1].extra["verifier_key"] == new_key.text
    append_all(app)
    new = sign(app)
    assert new is not None
    assert new.key_id == new_key.key_id.hex() != old.key_id
    keys = verifiers(app)
    assert len(keys) == 2
    assert notes.open_checkpoint(old.note, keys).size == old.tree_size
    assert notes.open_checkpoint(new.note, keys).key_id == new_key.key_id
    key_file = app.state.settings.resolved_key_dir / notes.SigningKeys.FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().count('"seed": null') == 1  # the old private key is gone
    assert self_check(app) == []


def _tampered(app: Any, problems: list[str], needle: str) -> None:
    assert any(needle in p for p in problems), problems
    alerts = audit_records(app, EventType.AUDITLOG_TAMPERING_DETECTED)
    assert alerts
    assert alerts[-1].extra["count"] == len(problems)
    assert outbox_events(app, EventType.AUDITLOG_TAMPERING_DETECTED)


def test_self_check_detects_an_altered_record(app: Any, api: Api, cast: Cast) -> None:
    message = post(api, cast, "原文")
    append_all(app)
    sign(app)
    assert self_check(app) == []
    assert api.get("/healthz").json()["auditlog"]["status"] == "ok"
    record_id = record_of_message(app, message)
    run_sql(app, "UPDATE audit_records SET acting_id = :a WHERE id = :id", a=cast.officer.id,
            id=record_id)
    problems = self_check(app)
    _tampered(app, problems, f"record {record_id} (leaf")
    health = api.get("/healthz").json()
    assert health["status"] == "alert"
    assert health["auditlog"]["status"] == "tampered"


def test_self_check_detects_altered_content_deletion_and_reordering(app: Any, api: Api,
                                                                     cast: Cast) -> None:
    a, b, c = (record_of_message(app, post(api, cast, t)) for t in ("甲", "乙", "丙"))
    append_all(app)
    sign(app)
    run_sql(app, "UPDATE audit_records SET source_ip = '10.9.9.9' WHERE id = :id", id=a)
    _tampered(app, self_check(app), f"record {a} (leaf")
    run_sql(app, "DELETE FROM audit_records WHERE id = :id", id=b)
    problems = self_check(app)
    assert any(f"record {b}" in p and "deleted" in p for p in problems), problems
    # reorder: two leaves swap their hashes (the log's own rows rewritten)
    uow = app.state.uows()
    try:
        la, lc = (uow.session.scalar(select(LogLeaf).where(LogLeaf.record_id == x))
                  for x in (a, c))
        ha, hc = la.leaf_hash, lc.leaf_hash
        uow.session.execute(update(LogLeaf).where(LogLeaf.record_id == a).values(leaf_hash=hc))
        uow.session.execute(update(LogLeaf).where(LogLeaf.record_id == c).values(leaf_hash=ha))
        uow.commit()
    finally:
        uow.close()
    problems = self_check(app)
    assert any("do not match checkpoint" in p for p in problems), problems
    assert any(f"record {c} (leaf" in p for p in problems), problems


def test_signing_refuses_a_forged_state_and_the_self_check_finds_a_lost_leaf(
        app: Any, api: Api, cast: Cast) -> None:
    append_all(app)
    sign(app)
    post(api, cast, "新")
    append_all(app)
    # the state row rewritten to another root: the stored nodes disagree, nothing is signed
    run_sql(app, "UPDATE auditlog_state SET root_hash = :r", r=b"\x00" * 32)
    uow = app.state.uows()
    try:
        with pytest.raises(actions.LogCorrupted, match="does not give the log's root"):
            actions.do_sign_checkpoint(uow, acting=identity_queries.system_account(uow))
    finally:
        uow.rollback()
        uow.close()
    run_sql(app, "DELETE FROM auditlog_leaves WHERE leaf_index = 0")
    problems = self_check(app)
    assert any("leaf 0 is missing" in p for p in problems), problems


def test_concurrent_writers_and_sequencers(app: Any, cast: Cast) -> None:
    """Writers commit records while two sequencers run: every record is logged once, in id
    order, and the tree verifies (on PostgreSQL ids commit out of order)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(30):
                uow = app.state.uows()
                try:
                    record_audit(uow, EventType.DEMO_SEEDED, acting=cast.officer.id,
                                 extra={"writer": n, "i": i})
                    uow.commit()
                finally:
                    uow.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def sequencer() -> None:
        try:
            while not stop.is_set():
                append_pass(app.state.uows)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    seqs = [threading.Thread(target=sequencer) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in seqs + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in seqs:
        t.join()
    assert not errors, errors
    append_all(app)
    uow = app.state.uows()
    try:
        ids = list(uow.session.scalars(select(AuditRecord.id).order_by(AuditRecord.id)))
        logged = list(uow.session.scalars(select(LogLeaf.record_id)
                                          .order_by(LogLeaf.leaf_index)))
        assert logged == ids
    finally:
        uow.close()
    assert self_check(app) == []


def test_self_check_worker_pass_records_health(app: Any, api: Api, cast: Cast) -> None:
    append_all(app)
    sign(app)
    self_check_pass(app.state.uows)
    health = api.get("/healthz").json()["auditlog"]
    assert health["status"] == "ok"
    assert health["checked_at"]


def test_bad_query_strings_never_crash(app: Any, api: Api, cast: Cast) -> None:
    append_all(app)
    sign(app)
    for path in ("/api/officer/audit-records/1/proof?tree_size=abc",
                 "/api/officer/audit-records/1/proof?tree_size=-1",
                 "/api/officer/audit-records/1/proof?tree_size=" + "9" * 40,
                 "/api/officer/audit-records/abc/proof",
                 "/api/officer/audit-records/0/proof",
                 "/api/officer/audit-records/" + "9" * 40 + "/proof",
                 "/api/officer/auditlog/consistency",
                 "/api/officer/auditlog/consistency?first=-1",
                 "/api/officer/auditlog/consistency?first=x&second=2",
                 "/api/officer/auditlog/consistency?first=1&second=" + "9" * 40):
        r = api.get(path, as_=cast.officer)
        assert r.status_code in (404, 422), (path, r.status_code, r.text[:200])
        assert error_code(r) in ("invalid_request", "not_found")


def test_worker_pass_appends_signs_on_interval_and_publishes(
        app: Any, api: Api, cast: Cast, clock: FixedClock, tmp_path: Path) -> None:
    target = tmp_path / "public" / "checkpoint.txt"
    app.state.settings.auditlog_publish_file = target
    assert append_pass(app.state.uows) > 0  # appends, and signs the first checkpoint
    info = notes.open_checkpoint(target.read_text(), verifiers(app))
    post(api, cast, "又一条")
    append_pass(app.state.uows)  # the interval has not passed: appended, not signed
    assert len(outbox_events(app, EventType.AUDITLOG_CHECKPOINT_SIGNED)) == 1
    clock.advance(seconds=app.state.settings.auditlog_checkpoint_seconds)
    post(api, cast, "再一条")
    assert append_pass(app.state.uows) > 0  # records waiting do not starve the checkpoint
    later = notes.open_checkpoint(target.read_text(), verifiers(app))
    assert later.size > info.size
    assert len(outbox_events(app, EventType.AUDITLOG_CHECKPOINT_SIGNED)) == 2
