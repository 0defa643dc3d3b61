"""`qunguan policy`: check, load and show screening policy packs (docs/screening.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qunguan.screening.policy import Pack, PackInvalid, parse_pack, read_pack_dir

policy_app = typer.Typer(help="Screening policy packs: check, load, show.",
                         no_args_is_help=True)
console = Console()
err = Console(stderr=True)

DirArg = Annotated[Path, typer.Argument(help="The pack's folder (pack.toml, rules/, lexicons/).")]
UrlOpt = Annotated[str | None, typer.Option(
    "--database-url", help="Database URL (default: QUNGUAN_DATABASE_URL).")]


def _validated(directory: Path) -> tuple[dict[str, str], Pack]:
    """The pack's files and parsed pack, or exit 1 printing every error as file:line: why."""
    try:
        files = read_pack_dir(directory)
        return files, parse_pack(files)
    except PackInvalid as exc:
        for e in exc.errors:
            err.print(f"[red]{escape(str(e))}[/red]")
        err.print(f"[red]{len(exc.errors)} error(s); the pack is not valid[/red]")
        raise typer.Exit(1) from None


def _print_rules(pack: Pack, title: str) -> None:
    table = Table(title=escape(title))
    for column in ("rule", "action", "sev", "mode", "stage", "when", "scope", "where"):
        # Ids and places stay whole (they are what one greps for); the rest may fold.
        table.add_column(column, no_wrap=column in ("rule", "where"), overflow="fold")
    for r in pack.rules:
        when = f" {r.match} ".join(
            f"{c.detector}({', '.join(c.labels) if c.detector != 'regex' else 'patterns'})"
            + (f"≥{c.min_count}" if c.min_count > 1 else "") for c in r.conditions)
        scope = "; ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                          for k, v in r.scope.public().items()) or "all groups"
        table.add_row(*(escape(x) for x in (r.id, r.action.label, str(r.severity), r.mode,
                                            r.stage, when, scope, f"{r.file}:{r.line}")))
    console.print(table)
    lexicons = ", ".join(f"{k} ({len(v)})" for k, v in sorted(pack.lexicons.items()))
    console.print(escape(f"lexicons: {lexicons or 'none'}"))


@policy_app.command("check")
def check(directory: DirArg) -> None:
    """Validate a pack and print its rules; errors name file, line and reason (exit 1)."""
    _, pack = _validated(directory)
    _print_rules(pack, f"{pack.name}: {len(pack.rules)} rules, valid")


@policy_app.command("load")
def load(directory: DirArg, database_url: UrlOpt = None) -> None:
    """Validate a pack and make it the active one, as a new version (audited)."""
    from qunguan.cli.main import _uow, settings_for
    from qunguan.identity import queries as identity_queries
    from qunguan.screening.actions import do_load_pack

    files, pack = _validated(directory)  # before touching the database
    settings = settings_for(database_url)
    uow = _uow(settings)
    try:
        system = identity_queries.system_account(uow)
        row = do_load_pack(uow, files, acting=system)
        uow.commit()
    finally:
        uow.close()
    console.print(escape(f"policy pack {pack.name!r} is active as version {row.version} "
                         f"({len(pack.rules)} rules, digest {row.digest[:12]})"))


@policy_app.command("show")
def show(database_url: UrlOpt = None) -> None:
    """Print the active pack: version, digest and rules."""
    from qunguan.cli.main import _uow, settings_for
    from qunguan.screening.engine import active_pack

    settings = settings_for(database_url)
    uow = _uow(settings)
    try:
        compiled = active_pack(uow)
    finally:
        uow.close()
    label = "the shipped default, never loaded" if compiled.version == 0 else \
        f"version {compiled.version}"
    _print_rules(compiled.pack, f"{compiled.name} ({label}), digest {compiled.digest[:12]}")
