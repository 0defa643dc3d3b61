"""`qunguan envelopes ...`: reconcile the ledger with the payment provider, refund expired
envelopes (one pass of the worker, for cron when the server's workers are off)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

envelopes_app = typer.Typer(help="Red envelopes: reconciliation with the payment provider, "
                            "refunds of expired envelopes.", no_args_is_help=True)
console = Console()


@envelopes_app.command()
def reconcile(
    provider: Annotated[str | None, typer.Option(help="Provider to reconcile (default: "
                                                 "QUNGUAN_PAYMENT_PROVIDER).")] = None,
) -> None:
    """Compare the provider's statement with the ledger; exit 1 on any discrepancy."""
    from qunguan.cli.main import _fail, _uow
    from qunguan.config import Settings
    from qunguan.envelopes import ledger, queries
    from qunguan.kernel.errors import QunguanError

    settings = Settings()
    uow = _uow(settings)
    try:
        try:
            found = queries.reconcile(uow, provider or settings.payment_provider)
        except QunguanError as exc:
            raise _fail(exc.message, 2) from None
        balances, postings = ledger.totals(uow)
    finally:
        uow.close()
    for d in found:
        console.print(f"[red]payment {escape(d.payment)}: provider {d.provider_fen} fen, "
                      f"ledger {d.ledger_fen} fen[/red]", highlight=False)
    if balances or postings:
        console.print(f"[red]ledger does not sum to zero: balances {balances}, "
                      f"postings {postings}[/red]", highlight=False)
    if found or balances or postings:
        raise typer.Exit(1)
    console.print("ledger and provider agree; the ledger sums to zero")


@envelopes_app.command("refund-expired")
def refund_expired() -> None:
    """Refund the remainders of expired envelopes to their senders (one pass)."""
    from sqlalchemy.orm import sessionmaker

    from qunguan.cli.main import _checked_engine
    from qunguan.config import Settings
    from qunguan.envelopes.worker import refund_expired as run_pass
    from qunguan.kernel.clock import SystemClock
    from qunguan.kernel.events import EventBus
    from qunguan.kernel.uow import UnitOfWorkFactory

    settings = Settings()
    engine = _checked_engine(settings)
    uows = UnitOfWorkFactory(sessionmaker(engine, expire_on_commit=False), settings=settings,
                             clock=SystemClock(), bus=EventBus())
    total = 0
    try:
        while done := run_pass(uows):
            total += done
    finally:
        engine.dispose()
    console.print(f"refunded {total} envelope(s)")
