"""`qunguan report …`: reports for the public and for regulators (AT-5)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError

report_app = typer.Typer(help="Transparency and regulator reports.", no_args_is_help=True)
console = Console(stderr=True)


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint=option) from None


@report_app.command("transparency")
def transparency(
    from_: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")],
    to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC), included.")],
    out: Annotated[Path, typer.Option(help="Folder to write the two files into.")] = Path("."),
    database_url: Annotated[str | None, typer.Option(
        help="Database to read (default: QUNGUAN_DATABASE_URL).")] = None,
) -> None:
    """Write transparency-FROM-TO.json (machine-readable) and .html (readable summary)."""
    from qunguan.cli.main import _fail, _uow, settings_for
    from qunguan.enforcement.transparency import build_report, render_html

    start, end = _day(from_, "--from"), _day(to, "--to")
    if end < start:
        raise _fail("--to is before --from", 1)
    settings = settings_for(database_url)
    uow = _uow(settings)
    try:
        with console.status("Counting…") as status:
            def step(name: str) -> None:
                status.update(f"Counting {name}…")

            try:
                data = build_report(uow, start, end, step=step)
            except OperationalError as exc:
                raise _fail(f"Cannot read the database: {exc.__class__.__name__}", 2) from None
    finally:
        uow.rollback()
        uow.close()
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"transparency-{start.isoformat()}-{end.isoformat()}"
    json_path, html_path = stem.with_suffix(".json"), stem.with_suffix(".html")
    json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    html_path.write_text(render_html(data), encoding="utf-8")
    typer.echo(f"wrote {json_path} and {html_path} "
               f"({data['reports']['received']} reports, "
               f"{data['actions']['sanctions']} sanctions, {data['appeals']['filed']} appeals; "
               f"generated {datetime.fromisoformat(data['generated_at']).isoformat()})")
