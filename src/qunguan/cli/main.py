"""The `qunguan` command: migrate, run the server, seed the demo, rotate keys, grant roles."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from qunguan.cli.archives import audit, import_app
from qunguan.cli.auditlog import auditlog_app
from qunguan.cli.envelopes import envelopes_app
from qunguan.cli.eval import eval_app
from qunguan.cli.governance import case_app, retention_app
from qunguan.cli.policy import policy_app
from qunguan.cli.report import report_app
from qunguan.cli.rumors import rumors_app
from qunguan.config import Settings
from qunguan.kernel.clock import SystemClock
from qunguan.kernel.db import make_engine
from qunguan.kernel.events import EventBus
from qunguan.kernel.uow import UnitOfWork, UnitOfWorkFactory
from qunguan.migrations import (
    NewerSchemaError,
    SchemaError,
    check_schema,
    current_revision,
    head_revision,
    upgrade,
)

app = typer.Typer(help="qunguan (群管): group information service for institutions.",
                  no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)
keys_app = typer.Typer(help="Vault master keys.", no_args_is_help=True)
accounts_app = typer.Typer(help="Operator tasks on accounts.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(accounts_app, name="accounts")
app.add_typer(rumors_app, name="rumors")
app.add_typer(eval_app, name="eval")
app.add_typer(report_app, name="report")
app.add_typer(policy_app, name="policy")
app.add_typer(envelopes_app, name="envelopes")
app.add_typer(retention_app, name="retention")
app.add_typer(case_app, name="case")
app.add_typer(auditlog_app, name="auditlog")
app.add_typer(import_app, name="import")
app.command("audit")(audit)
console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int) -> typer.Exit:
    """Print ``message`` (plain text, never markup) in red; the Exit to raise."""
    err.print(f"[red]{escape(message)}[/red]")
    return typer.Exit(code)


def _unreachable(engine: Engine, exc: OperationalError) -> typer.Exit:
    where = engine.url.render_as_string(hide_password=True)
    lines = str(exc.orig or exc).strip().splitlines()
    reason = lines[0] if lines else exc.__class__.__name__
    engine.dispose()
    return _fail(f"Cannot reach the database at {where}: {reason}", 2)


def _checked_engine(settings: Settings) -> Engine:
    """An engine on a database whose schema this build can use, or exit 2 saying why."""
    engine = make_engine(settings.database_url)
    try:
        check_schema(engine)
    except SchemaError as exc:
        engine.dispose()
        raise _fail(str(exc), 2) from None
    except OperationalError as exc:
        raise _unreachable(engine, exc) from None
    return engine


def settings_for(database_url: str | None) -> Settings:
    """The settings from the environment, with a command's --database-url over them."""
    settings = Settings()
    if database_url:
        settings.database_url = database_url
    return settings


def _factory(engine: Engine, settings: Settings) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(sessionmaker(engine, expire_on_commit=False),
                             settings=settings, clock=SystemClock(), bus=EventBus())


def _uow(settings: Settings) -> UnitOfWork:
    return _factory(_checked_engine(settings), settings)()


def run_until_done(settings: Settings, one_pass: Callable[[UnitOfWorkFactory], int]) -> int:
    """Run a worker's pass (for cron) until it finds nothing to do; the total it did."""
    engine = _checked_engine(settings)
    uows = _factory(engine, settings)
    total = 0
    try:
        while done := one_pass(uows):
            total += done
    finally:
        engine.dispose()
    return total


@app.command()
def migrate() -> None:
    """Apply the database migrations (creates the database on SQLite)."""
    settings = Settings()
    engine = make_engine(settings.database_url)
    try:
        before = current_revision(engine)
        check_schema(engine)
    except NewerSchemaError as exc:
        engine.dispose()
        raise _fail(str(exc), 2) from None
    except SchemaError:
        pass  # empty or behind: what migrate is for
    except OperationalError as exc:
        raise _unreachable(engine, exc) from None
    engine.dispose()
    upgrade(settings.database_url)
    console.print(f"schema at {head_revision()} (was {before or 'empty'})")


def _print_demo(url: str) -> None:
    from qunguan.demo import CAST, DEMO_PASSWORD

    table = Table(title="Demo logins (password for all: " + DEMO_PASSWORD + ")")
    table.add_column("phone")
    table.add_column("display name")
    table.add_column("who")
    for person in CAST:
        table.add_row(person.phone, person.display_name, person.role_note)
    console.print(table)
    console.print(f"qunguan is at [bold]{url}[/bold]  (API docs: {url}/docs)")


@app.command("seed-demo")
def seed_demo_cmd() -> None:
    """Seed the demo institution (idempotent)."""
    from qunguan.demo import seed_demo

    uow = _uow(Settings())
    try:
        seeded = seed_demo(uow)
        uow.commit()
    finally:
        uow.close()
    console.print("demo institution seeded" if seeded else "demo institution already present")


@app.command()
def run(demo: Annotated[bool, typer.Option(help="Migrate and seed the demo first.")] = False,
        host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
        port: Annotated[int | None, typer.Option(help="Listen port.")] = None) -> None:
    """Start the server (refuses an unmigrated or newer schema)."""
    import uvicorn

    from qunguan.app import create_app

    settings = Settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    if demo:
        migrate()
        seed_demo_cmd()
    _checked_engine(settings).dispose()  # refuse before building anything, saying why
    try:
        application = create_app(settings)
    except SchemaError as exc:
        raise _fail(str(exc), 2) from None
    url = f"http://{settings.host}:{settings.port}"
    if demo:
        _print_demo(url)
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="info")


@keys_app.command("rotate")
def rotate_keys() -> None:
    """Generate a new vault master key and re-wrap every data key under it."""
    from qunguan.identity import actions as identity
    from qunguan.identity import queries as identity_queries

    uow = _uow(Settings())
    try:
        system = identity_queries.system_account(uow)
        key_id, count = identity.do_rotate_keys(uow, acting=system)
        uow.commit()
    finally:
        uow.close()
    console.print(f"master key {key_id} is current; {count} vault records re-wrapped")


@accounts_app.command("grant-officer")
def grant_officer(phone: Annotated[str, typer.Argument(help="The account's phone number.")],
                  revoke: Annotated[bool, typer.Option(help="Make a member again.")] = False
                  ) -> None:
    """Make an account an officer (or a member again with --revoke)."""
    from qunguan.identity import AccountKind
    from qunguan.identity import actions as identity
    from qunguan.identity import queries as identity_queries
    from qunguan.identity.vault import phone_index
    from qunguan.kernel.errors import QunguanError

    uow = _uow(Settings())
    try:
        try:
            index = phone_index(uow, phone)
        except QunguanError as exc:
            raise _fail(exc.message, 1) from None
        account = identity_queries.account_by_phone_index(uow, index)
        if account is None:
            raise _fail("no account has that phone number", 1)
        system = identity_queries.system_account(uow)
        kind = AccountKind.MEMBER if revoke else AccountKind.OFFICER
        identity.do_set_kind(uow, acting=system, account_id=account.id, kind=kind)
        uow.commit()
    finally:
        uow.close()
    console.print(f"account {account.id} is now {kind}")


def main() -> None:  # pragma: no cover
    sys.exit(app())
