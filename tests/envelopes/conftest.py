"""Helpers of the red-envelope tests: top up, send, and read the ledger directly."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import func, select

from qunguan.envelopes import ledger
from qunguan.envelopes.models import Envelope, EnvelopeClaim, LedgerPosting, LedgerTransaction
from tests.cast import Person
from tests.conftest import Api

_keys = itertools.count(1)


def new_key() -> str:
    return f"test-key-{next(_keys)}"


def topup(api: Api, person: Person, amount_fen: int, key: str | None = None) -> Any:
    return api.post("/api/me/wallet/topup", as_=person, json={"amount_fen": amount_fen},
                    headers={"Idempotency-Key": key or new_key()})


def send(api: Api, person: Person, group_id: int, total_fen: Any, parts: Any,
         split: str = "lucky", key: str | None = None, **extra: Any) -> Any:
    return api.post(f"/api/groups/{group_id}/envelopes", as_=person,
                    json={"total_fen": total_fen, "parts": parts, "split": split, **extra},
                    headers={"Idempotency-Key": key or new_key()})


def claim(api: Api, person: Person, envelope_id: int, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(f"/api/envelopes/{envelope_id}/claim", as_=person, headers=headers)


def balance(app: Any, person: Person) -> int:
    uow = app.state.uows()
    try:
        return ledger.balance_of(uow, ledger.wallet_key(person.id))
    finally:
        uow.close()


def snapshot(app: Any) -> dict[str, Any]:
    """Everything a failed request must leave as it was: every balance, every row count."""
    uow = app.state.uows()
    try:
        from qunguan.envelopes.models import LedgerAccount

        balances = {row.key: row.balance for row in uow.session.execute(
            select(LedgerAccount.key, LedgerAccount.balance))}
        counts = {t.__tablename__: int(uow.session.scalar(
            select(func.count()).select_from(t)) or 0)
            for t in (Envelope, EnvelopeClaim, LedgerTransaction, LedgerPosting)}
        return {"balances": balances, "counts": counts}
    finally:
        uow.close()


def assert_ledger_consistent(app: Any) -> None:
    uow = app.state.uows()
    try:
        assert ledger.totals(uow) == (0, 0)
        from qunguan.envelopes.models import LedgerAccount

        negatives = uow.session.scalars(select(LedgerAccount.key).where(
            LedgerAccount.balance < 0, LedgerAccount.allow_negative.is_(False))).all()
        assert not negatives
        per_txn = uow.session.execute(select(LedgerPosting.transaction_id,
                                             func.sum(LedgerPosting.amount))
                                      .group_by(LedgerPosting.transaction_id)).all()
        assert all(total == 0 for _, total in per_txn)
    finally:
        uow.close()
