"""Local fixtures of the identity tests: spare people with identities of their own (scanned
for leaks exactly like the cast), and small helpers for verification and the vault."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from qunguan.identity.models import Account, VaultRecord, Verification
from tests.cast import Person, resident_id
from tests.conftest import COLLECTOR, Api, register


def make_spares() -> dict[str, Person]:
    """People outside the cast: registered on demand, never verified by a fixture."""
    people = [
        # Region 440305 (Nanshan, created 1990) with a birth date before it existed.
        Person("nanshan", "13922220001", "南山辛", "皇甫定安",
               resident_id("440305", "19750707", "071")),
        Person("spare", "13922220002", "备用壬", "尉迟清和",
               resident_id("320102", "19881212", "082")),
        # Check digit X: case and canonical form matter for the blind index.
        Person("xcheck", "13922220003", "备用癸", "令狐远山",
               resident_id("310104", "19870808", "102")),
        Person("late", "13922220004", "后来者", "公孙若水",
               resident_id("350102", "19910909", "093")),
    ]
    return {p.key: p for p in people}


def spare_needles() -> list[str]:
    needles: list[str] = []
    for p in make_spares().values():
        needles.append(p.phone)
        assert p.legal_name
        assert p.id_number
        needles += [p.legal_name, p.id_number]
    return needles


SPARE_NEEDLES = spare_needles()


@pytest.fixture(autouse=True)
def spare_pii_guard() -> Iterator[None]:
    """The suite-wide guard knows only the cast; extend it to the spares used here. Runs its
    check before the suite-wide guard drops the collected texts."""
    start = len(COLLECTOR.texts)
    yield
    hits = [f"{where}: contains {needle[:3]}…" for where, body in COLLECTOR.texts[start:]
            for needle in SPARE_NEEDLES if needle in body]
    assert not hits, f"personal data of a spare leaked outside the vault path: {hits}"


@pytest.fixture
def spares() -> dict[str, Person]:
    return make_spares()


@pytest.fixture
def spare(api: Api, spares: dict[str, Person]) -> Person:
    """Registered and logged in, not verified."""
    person = spares["spare"]
    register(api, person)
    return person


def submit(api: Api, person: Person, provider: str = "resident_id", **fields: Any) -> Any:
    if provider in ("resident_id", "officer_review") and not fields:
        fields = {"legal_name": person.legal_name, "id_number": person.id_number}
    return api.post("/api/me/verifications", as_=person, json={"provider": provider, **fields})


def account_row(app: Any, account_id: int) -> Account:
    uow = app.state.uows()
    try:
        account = uow.session.get(Account, account_id)
        assert account is not None
        return account
    finally:
        uow.close()


def verification_row(app: Any, verification_id: int) -> Verification:
    uow = app.state.uows()
    try:
        row = uow.session.get(Verification, verification_id)
        assert row is not None
        return row
    finally:
        uow.close()


def vault_rows(app: Any, kind: str | None = None) -> list[VaultRecord]:
    uow = app.state.uows()
    try:
        stmt = select(VaultRecord).order_by(VaultRecord.id)
        if kind is not None:
            stmt = stmt.where(VaultRecord.kind == kind)
        return list(uow.session.scalars(stmt))
    finally:
        uow.close()
