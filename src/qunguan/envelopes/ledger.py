"""The double-entry ledger: integer fen, append-only, idempotent.

Every movement is one ``LedgerTransaction`` whose postings sum to zero. A debit is a
conditional ``UPDATE … SET balance = balance - x WHERE balance >= x``: atomic on both
backends (PostgreSQL row-locks the account for the rest of the transaction; SQLite runs one
writer at a time), so no balance goes negative however many requests race. Each transaction
carries an idempotency key (unique): posting the same key again returns the first
transaction and moves nothing. Corrections are new transactions, never edits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from qunguan.envelopes.models import AccountKind, LedgerAccount, LedgerPosting, LedgerTransaction
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork


@dataclass(frozen=True)
class Move:
    """``amount`` fen from one ledger account to another."""

    source: LedgerAccount
    target: LedgerAccount
    amount: int


def wallet_key(account_id: int) -> str:
    return f"wallet:{account_id}"


def escrow_key(envelope_id: int) -> str:
    return f"escrow:{envelope_id}"


def clearing_key(provider: str) -> str:
    return f"clearing:{provider}"


def find_account(uow: UnitOfWork, key: str) -> LedgerAccount | None:
    return uow.session.scalar(select(LedgerAccount).where(LedgerAccount.key == key))


def get_or_create_account(uow: UnitOfWork, key: str, kind: AccountKind,
                          owner_id: int | None = None) -> LedgerAccount:
    found = find_account(uow, key)
    if found is not None:
        return found
    row = LedgerAccount(key=key, kind=str(kind), owner_id=owner_id, balance=0,
                        allow_negative=kind == AccountKind.CLEARING, created_at=uow.now())
    try:
        with uow.savepoint():
            uow.session.add(row)
            uow.session.flush()
    except IntegrityError:  # created by a concurrent request in the meantime
        found = find_account(uow, key)
        assert found is not None
        return found
    return row


def wallet(uow: UnitOfWork, account_id: int) -> LedgerAccount:
    return get_or_create_account(uow, wallet_key(account_id), AccountKind.WALLET, account_id)


def clearing(uow: UnitOfWork, provider: str) -> LedgerAccount:
    return get_or_create_account(uow, clearing_key(provider), AccountKind.CLEARING)


def balance_of(uow: UnitOfWork, key: str) -> int:
    found = uow.session.scalar(select(LedgerAccount.balance).where(LedgerAccount.key == key))
    return int(found or 0)


def find_transaction(uow: UnitOfWork, idempotency_key: str) -> LedgerTransaction | None:
    return uow.session.scalar(select(LedgerTransaction).where(
        LedgerTransaction.idempotency_key == idempotency_key))


def _apply(uow: UnitOfWork, account: LedgerAccount, delta: int) -> None:
    stmt = (update(LedgerAccount).where(LedgerAccount.id == account.id)
            .values(balance=LedgerAccount.balance + delta)
            .returning(LedgerAccount.balance)
            .execution_options(synchronize_session=False))
    if delta < 0 and not account.allow_negative:
        stmt = stmt.where(LedgerAccount.balance >= -delta)
    balance = uow.session.scalar(stmt)
    if balance is None:
        raise _insufficient(uow, account.key, delta)
    # The new balance came back with the update: no second round trip to read it.
    set_committed_value(account, "balance", balance)


def _insufficient(uow: UnitOfWork, key: str, delta: int) -> QunguanError:
    return QunguanError("insufficient_funds", "Not enough money in the account.",
                        balance_fen=balance_of(uow, key), needed_fen=-delta)


def post(uow: UnitOfWork, moves: list[Move], *, idempotency_key: str, kind: str,
         acting_id: int, reference: str | None = None) -> tuple[LedgerTransaction, bool]:
    """Record ``moves`` as one transaction; ``(transaction, created)``.

    A key already used returns its first transaction with ``created`` False and moves nothing.
    Raises ``insufficient_funds`` (and rolls back this call's postings) when a debit would
    take an account below zero.
    """
    for move in moves:
        if move.amount <= 0:
            raise ValueError(f"a move is a positive amount of fen, not {move.amount}")
    existing = find_transaction(uow, idempotency_key)
    if existing is not None:
        return existing, False
    txn = LedgerTransaction(idempotency_key=idempotency_key, kind=kind, reference=reference,
                            acting_id=acting_id, created_at=uow.now())
    try:
        with uow.savepoint():
            uow.session.add(txn)
            uow.session.flush()  # claims the key first: a concurrent retry waits here
            deltas: dict[int, int] = {}
            accounts: dict[int, LedgerAccount] = {}
            for move in moves:
                deltas[move.source.id] = deltas.get(move.source.id, 0) - move.amount
                deltas[move.target.id] = deltas.get(move.target.id, 0) + move.amount
                accounts[move.source.id] = move.source
                accounts[move.target.id] = move.target
            assert sum(deltas.values()) == 0
            # A fixed order (by id) so two transactions never lock the same rows crosswise.
            moved = [account_id for account_id in sorted(deltas) if deltas[account_id]]
            for account_id in moved:
                _apply(uow, accounts[account_id], deltas[account_id])
            _insert_postings(uow, txn.id, [(a, deltas[a]) for a in moved])
    except IntegrityError:
        first = find_transaction(uow, idempotency_key)
        if first is None:
            raise
        return first, False
    return txn, True


def _insert_postings(uow: UnitOfWork, transaction_id: int,
                     amounts: list[tuple[int, int]]) -> None:
    """Every posting of a transaction in one statement."""
    uow.session.execute(insert(LedgerPosting).values(
        [{"transaction_id": transaction_id, "account_id": account_id, "amount": amount}
         for account_id, amount in amounts]))


# The short path's statements, built once: they run on the connection, past the ORM.
_NEW_TRANSACTION = insert(LedgerTransaction).returning(LedgerTransaction.id)
_DEBIT_BY_KEY = (update(LedgerAccount)
                 .where(LedgerAccount.key == bindparam("account_key"),
                        (LedgerAccount.balance >= bindparam("fen")) | LedgerAccount.allow_negative)
                 .values(balance=LedgerAccount.balance - bindparam("fen"))
                 .returning(LedgerAccount.id))
_CREDIT_BY_KEY = (update(LedgerAccount).where(LedgerAccount.key == bindparam("account_key"))
                  .values(balance=LedgerAccount.balance + bindparam("fen"))
                  .returning(LedgerAccount.id))
_NEW_POSTINGS = insert(LedgerPosting)


def post_from_locked(uow: UnitOfWork, *, source_key: str, target: tuple[str, AccountKind, int],
                     amount: int, idempotency_key: str, kind: str, acting_id: int,
                     reference: str) -> int:
    """Move ``amount`` from the account ``source_key`` to the account ``target`` (key, kind,
    owner; created when missing) as a new transaction; its id. The short path of a claim.

    Only for a caller that holds the lock which makes both the source and the key its own:
    a claim holds its envelope's row lock, the only way to the envelope's escrow, and has just
    inserted the unique (envelope, member) claim row the key is derived from. So there is no
    lookup of the key first (a duplicate raises IntegrityError: a bug, never a retry), no
    savepoint, and the source is updated before the target without the id order of ``post``:
    no transaction waiting for the source can be holding the target, because none reaches
    the source without the lock the caller holds. Each account is read and updated in one
    statement (``UPDATE … RETURNING``); the rows loaded in the session are not refreshed.
    Raises ``insufficient_funds`` like ``post``."""
    if amount <= 0:
        raise ValueError(f"a move is a positive amount of fen, not {amount}")
    conn = uow.session.connection()
    txn_id = conn.execute(_NEW_TRANSACTION, {
        "idempotency_key": idempotency_key, "kind": kind, "reference": reference,
        "acting_id": acting_id, "created_at": uow.now()}).scalar_one()
    source_id = conn.execute(_DEBIT_BY_KEY, {"account_key": source_key,
                                             "fen": amount}).scalar()
    if source_id is None:
        raise _insufficient(uow, source_key, -amount)
    target_key, target_kind, owner_id = target
    credit = {"account_key": target_key, "fen": amount}
    target_id = conn.execute(_CREDIT_BY_KEY, credit).scalar()
    if target_id is None:  # the member's first money: open the wallet, then credit it
        get_or_create_account(uow, target_key, target_kind, owner_id)
        target_id = conn.execute(_CREDIT_BY_KEY, credit).scalar_one()
    conn.execute(_NEW_POSTINGS, [
        {"transaction_id": txn_id, "account_id": source_id, "amount": -amount},
        {"transaction_id": txn_id, "account_id": target_id, "amount": amount}])
    return int(txn_id)


def totals(uow: UnitOfWork) -> tuple[int, int]:
    """(sum of every balance, sum of every posting): both zero in a consistent ledger."""
    balances = uow.session.scalar(select(func.coalesce(func.sum(LedgerAccount.balance), 0)))
    postings = uow.session.scalar(select(func.coalesce(func.sum(LedgerPosting.amount), 0)))
    return int(balances or 0), int(postings or 0)
