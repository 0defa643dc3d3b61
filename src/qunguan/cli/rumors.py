"""`qunguan rumors ...`: the matcher and the content clusters on files, with exactly the code
the server uses (``qunguan.rumors``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from qunguan.rumors import Bank
from qunguan.rumors.cascades import cluster_messages
from qunguan.rumors.jsonl import LineError, bank_entry, cascade_message, match_message, read

rumors_app = typer.Typer(help="Rumour control: match messages against a debunk bank, cluster "
                         "copies and forwards.", no_args_is_help=True)
err = Console(stderr=True)


def _report(errors: list[LineError]) -> None:
    for e in errors:
        err.print(f"[red]{escape(str(e))}[/red]", highlight=False, soft_wrap=True)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]cannot read {escape(str(path))}: {escape(str(exc))}[/red]",
                  soft_wrap=True)
        raise typer.Exit(2) from None


@contextmanager
def _output(out: Path | None) -> Iterator[TextIO]:
    if out is None:
        yield sys.stdout
        return
    with out.open("w", encoding="utf-8") as f:
        yield f


def _progress(total: int, what: str) -> Progress:
    # Shown on a terminal only, on stderr: stdout carries the JSONL.
    progress = Progress(console=err, transient=True, disable=not err.is_terminal or total < 200)
    progress.add_task(what, total=total)
    return progress


def _emit(f: TextIO, row: dict[str, Any]) -> None:
    f.write(json.dumps(row, ensure_ascii=False) + "\n")


@rumors_app.command("match")
def match(
    bank: Annotated[Path, typer.Option(help="Debunk bank, JSONL: id, claim, optional "
                                       "debunk_text, verdict.")],
    messages: Annotated[Path, typer.Option(help="Messages, JSONL: id, text.")],
    top: Annotated[int, typer.Option(min=1, max=100, help="Matches per message.")] = 5,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Match each message against the bank: one JSON line per message with its top matches and
    the debunk attached automatically (or null)."""
    errors: list[LineError] = []
    entries = list(read(_lines(bank), str(bank), bank_entry, errors))
    if errors:
        _report(errors)
        err.print(f"[red]{len(errors)} bad line(s) in the bank; nothing matched (an incomplete "
                  "bank would miss debunks silently).[/red]", soft_wrap=True)
        raise typer.Exit(1)
    index = Bank(entries)
    rows = list(read(_lines(messages), str(messages), match_message, errors))
    with _output(out) as f, _progress(len(rows), "matching") as progress:
        for message_id, text in rows:
            found = index.match(text, top)
            _emit(f, {"id": message_id,
                      "matches": [{"debunk_id": m.debunk_id, "score": m.score} for m in found],
                      "label": index.label(found)})
            progress.advance(progress.task_ids[0])
    if errors:
        _report(errors)
        err.print(f"[red]{len(errors)} bad message line(s) skipped; the other "
                  f"{len(rows)} were matched.[/red]", soft_wrap=True)
        raise typer.Exit(1)


@rumors_app.command("cascades")
def cascades(
    messages: Annotated[Path, typer.Option(help="Messages, JSONL: id, text, group, sender, ts "
                                           "(ISO 8601), optional forwarded_from.")],
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Cluster messages by forward provenance and near-duplicate text: one JSON line
    {"id", "cluster"} per message, the cluster named by its earliest message."""
    errors: list[LineError] = []
    rows = list(read(_lines(messages), str(messages), cascade_message, errors))
    with _progress(len(rows), "clustering") as progress:
        task = progress.task_ids[0]
        clusters = cluster_messages(rows, progress=lambda n: progress.advance(task, n))
    with _output(out) as f:
        for m in rows:  # input order
            _emit(f, {"id": m.id, "cluster": clusters[m.id]})
    if errors:
        _report(errors)
        err.print(f"[red]{len(errors)} bad line(s) skipped; the other {len(rows)} were "
                  "clustered.[/red]", soft_wrap=True)
        raise typer.Exit(1)


@rumors_app.command("import")
def import_bank(
    file: Annotated[Path, typer.Argument(help="Debunk entries: CSV with a header row, or JSONL "
                                         "(one object a line); see docs/rumors.md.")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or jsonl (default: from the "
                                            "file name's extension).")] = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="Database URL (default: QUNGUAN_DATABASE_URL).")] = None,
) -> None:
    """Import debunk entries into the bank, all or nothing: a bad row imports none and is
    reported as FILE:LINE: reason (exit 1); duplicates of active claims are skipped and listed."""
    from qunguan.cli.main import _uow, settings_for
    from qunguan.identity import queries as identity_queries
    from qunguan.kernel.errors import QunguanError
    from qunguan.rumors.actions import do_import_debunks

    kind = (fmt or file.suffix.lstrip(".")).lower()
    if kind not in ("csv", "jsonl"):
        err.print(f"[red]{escape(str(file))}: say --format csv or --format jsonl[/red]",
                  soft_wrap=True)
        raise typer.Exit(2)
    try:
        content = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]cannot read {escape(str(file))}: {escape(str(exc))}[/red]",
                  soft_wrap=True)
        raise typer.Exit(2) from None
    settings = settings_for(database_url)
    uow = _uow(settings)
    try:
        system = identity_queries.system_account(uow)
        try:
            result = do_import_debunks(uow, acting=system, content=content, fmt=kind,
                                       source=file.name)
        except QunguanError as exc:
            uow.rollback()
            if exc.code != "debunk_import_invalid":
                raise
            _report([LineError(str(file), int(e["line"]), str(e["message"]))
                     for e in exc.details["errors"]])
            more = exc.details["error_count"] - len(exc.details["errors"])
            err.print(f"[red]{exc.details['error_count']} bad row(s)"
                      f"{f' ({more} not shown)' if more > 0 else ''}; nothing was imported."
                      "[/red]", soft_wrap=True)
            raise typer.Exit(1) from None
        uow.commit()
    finally:
        uow.close()
    def where(d: dict[str, Any]) -> str:
        return f"debunk {d['debunk_id']}" if "debunk_id" in d else \
            f"line {d['duplicate_of_line']}"

    for d in result.duplicates:
        carried = f" (with its {d['phrasings']} phrasing(s): add them to that debunk)" \
            if d.get("phrasings") else ""
        err.print(escape(f"{file}:{d['line']}: duplicate of {where(d)}, skipped{carried}"),
                  soft_wrap=True)
    for d in result.phrasings_skipped:
        err.print(escape(f"{file}:{d['line']}: phrasing {d['text']!r} already said by "
                         f"{where(d)}, left out"), soft_wrap=True)
    print(f"imported {len(result.imported)} of {result.rows} row(s); "
          f"{len(result.duplicates)} duplicate(s) skipped")
