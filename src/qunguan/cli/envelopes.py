"""`qunguan envelopes ...`: reconcile the ledger with the payment provider, refund expired
envelopes (one pass of the worker, for cron when the server's workers are off)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

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
    from qunguan.cli.main import run_until_done
    from qunguan.config import Settings
    from qunguan.envelopes.worker import refund_expired as run_pass

    total = run_until_done(Settings(), run_pass)
    console.print(f"refunded {total} envelope(s)")


@envelopes_app.command("export")
def export_trail(
    reference: Annotated[str, typer.Option("--reference", help="The discipline inspection or "
                                           "police request this export answers (recorded).")],
    fmt: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Envelopes sent at or after (UTC "
                                                   "unless a zone is given).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Envelopes sent before.")] = None,
    group: Annotated[int | None, typer.Option(help="One group's envelopes.")] = None,
    sender: Annotated[int | None, typer.Option(help="One sender's envelopes.")] = None,
    election: Annotated[int | None, typer.Option(help="Envelopes under one election.")] = None,
) -> None:
    """PAY-5: export the red-envelope trail (senders, groups, totals, parts, recipients by
    display name, times, every ledger transaction) as JSON or CSV; the export is audited."""
    from qunguan.cli.main import _fail, _uow
    from qunguan.config import Settings
    from qunguan.envelopes import actions
    from qunguan.envelopes.export import ExportFilters
    from qunguan.identity import queries as identity_queries
    from qunguan.kernel.errors import QunguanError

    if fmt not in ("json", "csv"):
        raise _fail("--format is json or csv", 1)

    def aware(value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    uow = _uow(Settings())
    try:
        try:
            content = actions.do_export_envelopes(
                uow, acting=identity_queries.system_account(uow), fmt=fmt,
                request_reference=reference,
                filters=ExportFilters(since=aware(since), until=aware(until), group_id=group,
                                      sender_id=sender, election_id=election))
        except QunguanError as exc:
            raise _fail(exc.message, 1) from None
        uow.commit()
    finally:
        uow.close()
    if out is None:
        sys.stdout.write(content)
    else:
        out.write_text(content, encoding="utf-8")
        console.print(f"wrote {escape(str(out))}", highlight=False)


def run_replay(lines: list[dict[str, Any]], database_url: str | None = None,
               enforce_limits: bool = False) -> Any:
    """Replay ``lines`` on a fresh database (a temporary SQLite file unless
    ``database_url`` names an empty one); the ``ReplayResult``."""
    import tempfile

    from sqlalchemy.orm import sessionmaker

    from qunguan.config import Settings
    from qunguan.envelopes.replay import Replay, ReplayClock
    from qunguan.kernel.db import make_engine
    from qunguan.kernel.events import EventBus
    from qunguan.kernel.uow import UnitOfWorkFactory
    from qunguan.migrations import upgrade

    with tempfile.TemporaryDirectory(prefix="qunguan-replay-") as tmp:
        settings = Settings(data_dir=Path(tmp), run_workers=False,
                            database_url=database_url or f"sqlite:///{tmp}/replay.db")
        if not enforce_limits:
            # The replay measures detection: envelopes the limits or an election's policy
            # would stop never reach the detectors. --enforce-limits keeps them.
            settings.election_strict_policy = "disclose"
            settings.envelope_strict_max_fen = settings.envelope_max_fen
            # Nor the send-time hold of the vote-buying detector: held envelopes cannot be
            # claimed, and the post-send detectors would then see fewer claims.
            settings.votebuying_at_send = False
        upgrade(settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            clock = ReplayClock(datetime(2000, 1, 1, tzinfo=UTC))
            uows = UnitOfWorkFactory(sessionmaker(engine, expire_on_commit=False),
                                     settings=settings, clock=clock, bus=EventBus())
            return Replay(uows, clock).run(lines)
        finally:
            engine.dispose()


@envelopes_app.command("replay")
def replay(
    file: Annotated[Path, typer.Argument(help="A scenario JSONL file (docs/envelopes.md).")],
    out: Annotated[Path | None, typer.Option(help="Write the alerts here (JSONL) instead of "
                                             "stdout.")] = None,
    database_url: Annotated[str | None, typer.Option(help="An empty database to replay into "
                                                     "(default: a temporary SQLite file).")] = None,
    enforce_limits: Annotated[bool, typer.Option(help="Keep the strict-category cap, the "
                                                 "election floor and the send-time "
                                                 "vote-buying hold of the settings.")] = False,
) -> None:
    """Run a scenario through the real ledger and detectors on a fresh database; one JSON
    alert per line (pattern, sender, group, election, envelopes, time of alert)."""
    import json

    from qunguan.cli.main import _fail
    from qunguan.envelopes.replay import ScenarioError
    from qunguan.envelopes.scenarios import read_jsonl

    try:
        lines = list(read_jsonl(file))
        result = run_replay(lines, database_url, enforce_limits)
    except (OSError, ScenarioError, ValueError) as exc:
        raise _fail(f"{file}: {exc}", 1) from None
    text = "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in result.alerts)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    refused = ", ".join(f"{k} {v}" for k, v in sorted(result.refused.items())) or "none"
    sys.stderr.write(f"{result.sends} sends, {result.claims} claims, {len(result.alerts)} "
                     f"alerts; refused: {refused}\n")
