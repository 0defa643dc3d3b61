"""Payment providers (PAY-1), registered like plug-ins.

Funds are held by a licensed payment institution, never by qunguan: a provider creates,
captures, refunds and reports payments; we keep its references and mirror every movement in
the ledger. ``statement`` is the provider's own account of what happened, which
``qunguan envelopes reconcile`` compares with the ledger. The built-in ``sandbox`` provider
registers itself exactly as a third party would::

    from qunguan.envelopes.providers import register_provider
    register_provider(MyBankProvider())
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from qunguan.envelopes.models import SandboxPayment
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork


@dataclass(frozen=True)
class Payment:
    external_id: str
    payer_id: int
    amount_fen: int
    refunded_fen: int
    status: str  # created, captured, refunded
    reference: str


class PaymentProvider(Protocol):
    name: str
    title: str
    sandbox: bool  # shown in API responses, so nobody mistakes test money for real money

    def create_payment(self, uow: UnitOfWork, *, payer_id: int, amount_fen: int,
                       reference: str) -> Payment: ...

    def capture(self, uow: UnitOfWork, external_id: str) -> Payment: ...

    def refund(self, uow: UnitOfWork, external_id: str, amount_fen: int) -> Payment: ...

    def query(self, uow: UnitOfWork, external_id: str) -> Payment: ...

    def statement(self, uow: UnitOfWork) -> list[Payment]: ...


PROVIDERS: dict[str, PaymentProvider] = {}


def register_provider(provider: PaymentProvider) -> None:
    if provider.name in PROVIDERS:
        raise ValueError(f"payment provider {provider.name!r} registered twice")
    PROVIDERS[provider.name] = provider


def get_provider(name: str) -> PaymentProvider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise QunguanError("unknown_payment_provider", f"No payment provider {name!r}.",
                           known=sorted(PROVIDERS)) from None


def _public(row: SandboxPayment) -> Payment:
    return Payment(row.external_id, row.payer_id, row.amount_fen, row.refunded_fen, row.status,
                   row.reference)


class SandboxProvider:
    """Test money, booked in its own table (``sandbox_payments``) in the same database."""

    name = "sandbox"
    title = "Sandbox (test money, not a real payment institution)"
    sandbox = True

    def _row(self, uow: UnitOfWork, external_id: str) -> SandboxPayment:
        row = uow.session.scalar(select(SandboxPayment).where(
            SandboxPayment.external_id == external_id))
        if row is None:
            raise QunguanError("not_found", "No such payment.")
        return row

    def create_payment(self, uow: UnitOfWork, *, payer_id: int, amount_fen: int,
                       reference: str) -> Payment:
        row = SandboxPayment(external_id=f"sbx_{secrets.token_hex(12)}", payer_id=payer_id,
                             amount_fen=amount_fen, refunded_fen=0, status="created",
                             reference=reference, created_at=uow.now())
        uow.session.add(row)
        uow.session.flush()
        return _public(row)

    def capture(self, uow: UnitOfWork, external_id: str) -> Payment:
        row = self._row(uow, external_id)
        if row.status == "created":
            row.status = "captured"
        return _public(row)

    def refund(self, uow: UnitOfWork, external_id: str, amount_fen: int) -> Payment:
        row = self._row(uow, external_id)
        if amount_fen <= 0 or row.refunded_fen + amount_fen > row.amount_fen:
            raise QunguanError("conflict", "The refund exceeds the payment.")
        row.refunded_fen += amount_fen
        if row.refunded_fen == row.amount_fen:
            row.status = "refunded"
        return _public(row)

    def query(self, uow: UnitOfWork, external_id: str) -> Payment:
        return _public(self._row(uow, external_id))

    def statement(self, uow: UnitOfWork) -> list[Payment]:
        rows = uow.session.scalars(select(SandboxPayment).order_by(SandboxPayment.id))
        return [_public(r) for r in rows]


register_provider(SandboxProvider())
