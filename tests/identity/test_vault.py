"""The identity vault: key files, ciphertexts, rotation, and no personal data anywhere else
in the database (PI-1..PI-4)."""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from qunguan.config import Settings
from qunguan.identity import actions as identity_actions
from qunguan.identity import queries as identity_queries
from qunguan.identity import vault
from qunguan.identity.models import Account, VaultRecord
from qunguan.kernel.db import Base
from qunguan.kernel.events import EventType
from tests.cast import pii_needles
from tests.conftest import Api, Cast, audit_records, outbox_events
from tests.identity.conftest import vault_rows


def _reveal_all(app: Any, acting_id: int) -> dict[int, dict[str, str]]:
    uow = app.state.uows()
    try:
        acting = uow.session.get(Account, acting_id)
        assert acting is not None
        out = {row.id: vault.reveal(uow, row.id, acting=acting, purpose="test: read back",
                                    request_ref="TEST-ROTATE")
               for row in uow.session.scalars(select(VaultRecord).order_by(VaultRecord.id))}
        uow.commit()
        return out
    finally:
        uow.close()


def test_key_files_are_private(api: Api, cast: Cast, settings: Settings) -> None:
    key_dir = settings.resolved_key_dir
    assert key_dir == settings.data_dir / "keys"
    for name in ("master.json", "index.key"):
        mode = stat.S_IMODE((key_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name}: {oct(mode)}"
    assert not list(key_dir.glob("*.tmp"))
    data = json.loads((key_dir / "master.json").read_text())
    assert data["current"] == "k1"
    assert set(data["keys"]) == {"k1"}


def test_ciphertexts_hold_no_plaintext(api: Api, app: Any, cast: Cast) -> None:
    rows = vault_rows(app)
    assert sorted(r.kind for r in rows) == ["phone"] * 7 + ["resident_id"] * 6
    assert len({r.wrapped_key for r in rows}) == len(rows)  # a data key of its own each
    assert len({r.nonce for r in rows}) == len(rows)
    for row in rows:
        assert row.key_id == "k1"
        for needle in pii_needles():
            for blob in (row.ciphertext, row.wrapped_key, row.nonce):
                assert needle.encode() not in blob
        assert row.blind_index is None or len(row.blind_index) == 64
    # The plaintext is there, under the keys: each record opens to its owner's data.
    opened = _reveal_all(app, cast.officer.id)
    by_account = {(r.account_id, r.kind): opened[r.id] for r in rows}
    for person in cast.values():
        assert by_account[(person.id, "phone")] == {"phone": person.phone}
        if person.id_number:
            assert by_account[(person.id, "resident_id")] == {
                "legal_name": person.legal_name, "id_number": person.id_number}


def test_record_is_bound_to_its_account(api: Api, app: Any, cast: Cast) -> None:
    """A ciphertext moved to another account's row does not open (associated data)."""
    rows = {(r.account_id, r.kind): r for r in vault_rows(app, "resident_id")}
    stolen = rows[(cast.member.id, "resident_id")]
    uow = app.state.uows()
    try:
        mine = uow.session.get(VaultRecord, rows[(cast.member2.id, "resident_id")].id)
        assert mine is not None
        mine.key_id, mine.wrapped_key = stolen.key_id, stolen.wrapped_key
        mine.nonce, mine.ciphertext = stolen.nonce, stolen.ciphertext
        uow.session.flush()
        with pytest.raises(InvalidTag):
            vault.reveal(uow, mine.id, acting=cast.officer, purpose="p", request_ref="r")
    finally:
        uow.rollback()
        uow.close()


def test_key_rotation_rewraps_every_record(api: Api, app: Any, cast: Cast,
                                           settings: Settings) -> None:
    before = {r.id: r for r in vault_rows(app)}
    opened_before = _reveal_all(app, cast.officer.id)

    uow = app.state.uows()
    try:
        system = identity_queries.system_account(uow)
        new_id, count = identity_actions.do_rotate_keys(uow, acting=system)
        uow.commit()
        system_id = system.id
    finally:
        uow.close()
    assert (new_id, count) == ("k2", len(before))

    after = {r.id: r for r in vault_rows(app)}
    assert set(after) == set(before)
    for rid, row in after.items():
        assert row.key_id == "k2"
        assert row.wrapped_key != before[rid].wrapped_key
        assert row.ciphertext == before[rid].ciphertext  # only the data keys are re-wrapped
        assert row.nonce == before[rid].nonce
        assert row.blind_index == before[rid].blind_index
    assert _reveal_all(app, cast.officer.id) == opened_before

    data = json.loads((settings.resolved_key_dir / "master.json").read_text())
    assert data["current"] == "k2"
    assert set(data["keys"]) == {"k1", "k2"}  # the old key stays readable
    mode = stat.S_IMODE((settings.resolved_key_dir / "master.json").stat().st_mode)
    assert mode == 0o600

    [audit] = audit_records(app, EventType.VAULT_KEYS_ROTATED)
    assert audit.acting_id == system_id
    assert audit.subject_type == "vault"
    assert audit.extra == {"key_id": "k2", "records": len(before)}
    [event] = outbox_events(app, EventType.VAULT_KEYS_ROTATED)
    assert event.payload == {"key_id": "k2", "records": len(before), "account_ids": []}

    # The vault keeps working after rotation: new records are sealed under k2, logins and
    # uniqueness (blind index, whose key is not rotated) are unchanged.
    r = api.post("/api/sessions", json={"phone": cast.member.phone,
                                        "password": cast.member.password})
    assert r.status_code == 201, r.text
    r = api.post("/api/me/verifications", as_=cast.newcomer, json={
        "provider": "resident_id", "legal_name": "x", "id_number": cast.member.id_number})
    assert r.status_code == 409


def test_rotating_twice_keeps_every_record_readable(api: Api, app: Any, cast: Cast) -> None:
    opened = _reveal_all(app, cast.officer.id)
    for _ in range(2):
        uow = app.state.uows()
        try:
            identity_actions.do_rotate_keys(uow, acting=identity_queries.system_account(uow))
            uow.commit()
        finally:
            uow.close()
    assert {r.key_id for r in vault_rows(app)} == {"k3"}
    assert _reveal_all(app, cast.officer.id) == opened


def test_no_personal_data_outside_the_vault(api: Api, app: Any, cast: Cast) -> None:
    """Every column of every table but the vault's, after the cast is built and a few more
    actions: no phone, legal name or ID number of the cast, in any form we store."""
    api.patch("/api/me", as_=cast.member, json={"display_name": "新名字"})
    api.post("/api/sessions", json={"phone": cast.member.phone, "password": "wrong-password"})
    api.post(f"/api/groups/{cast.group['id']}/messages", as_=cast.member, json={"text": "你好"})
    needles = pii_needles()
    scanned: set[str] = set()
    with app.state.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name == "vault_records":
                continue
            for row in conn.execute(table.select()):
                for column, value in row._mapping.items():
                    if value is None:
                        continue
                    text = (value.decode("latin-1") if isinstance(value, bytes)
                            else json.dumps(value, ensure_ascii=False, default=str))
                    for needle in needles:
                        assert needle not in text, f"{table.name}.{column}"
                scanned.add(table.name)
    assert {"accounts", "verifications", "audit_records", "outbox_events", "login_attempts",
            "auth_tokens"} <= scanned
