"""`qunguan import convert` and `qunguan audit`: exported chat archives (WeCom, WeChat,
WhatsApp, Telegram, neutral JSONL) read by ``qunguan.importers``, converted or audited;
`qunguan import list` and `qunguan import verify`: the archives loaded with `--import-into`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from qunguan.importers import Archive, ReadError, StrictStop, dumps
from qunguan.importers.registry import importers

import_app = typer.Typer(help="Chat archives exported from other platforms.",
                         no_args_is_help=True)
err = Console(stderr=True)

FilesArg = Annotated[list[Path], typer.Argument(help="Archive files (any mix of formats with "
                                                "--format auto).")]
FormatOpt = Annotated[str, typer.Option("--format", help="auto (detect from the content), "
                                        "wecom-archive, wechat-csv, whatsapp-txt, "
                                        "telegram-json or jsonl.")]
StrictOpt = Annotated[bool, typer.Option(help="Stop at the first unreadable place instead of "
                                         "reporting it and going on.")]
DatabaseUrlOpt = Annotated[str | None, typer.Option(
    "--database-url", help="Database URL (default: QUNGUAN_DATABASE_URL).")]


def _print_error(error: ReadError) -> None:
    err.print(f"[red]{escape(str(error))}[/red]", highlight=False, soft_wrap=True)


def _check_format(fmt: str) -> None:
    known = ["auto", *(i.name for i in importers())]
    if fmt not in known:
        err.print(f"[red]unknown format {escape(fmt)!r}; known: {', '.join(known)}[/red]")
        raise typer.Exit(2)


@import_app.command("convert")
def convert(files: FilesArg,
            out: Annotated[Path | None, typer.Option(help="Write the JSONL here (default: "
                                                     "stdout).")] = None,
            fmt: FormatOpt = "auto", strict: StrictOpt = False) -> None:
    """Convert archives to qunguan's neutral JSONL event format, streaming; every unreadable
    place is reported on stderr as FILE:LINE: reason (exit 1 after writing the rest)."""
    _check_format(fmt)
    archive = Archive(files, fmt, strict, _print_error)
    sink = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        for event in archive:
            sink.write(dumps(event) + "\n")
    except StrictStop:
        err.print("[red]stopped at the first unreadable place (--strict)[/red]")
        raise typer.Exit(1) from None
    finally:
        if out:
            sink.close()
    err.print(f"{archive.events} event(s) written; {archive.errors} unreadable place(s)",
              highlight=False)
    if archive.errors:
        raise typer.Exit(1)


@import_app.command("list")
def list_imports(database_url: DatabaseUrlOpt = None,
                 limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest "
                                                    "first.")] = 50,
                 as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
                 ) -> None:
    """The archives loaded with `qunguan audit --import-into`, newest first: id, files,
    format, status, events, unreadable places, chain digest and time."""
    from qunguan.cli.main import _uow, settings_for
    from qunguan.importers import queries
    from qunguan.importers.masking import mask_personal

    uow = _uow(settings_for(database_url))
    try:
        rows, _ = queries.list_imports(uow, viewer=None, limit=limit)
        data: list[dict[str, Any]] = [
            {"id": r.id, "files": [mask_personal(f) for f in r.files], "format": r.format,
             "status": r.status, "events": r.events, "errors": r.errors, "digest": r.digest,
             "chain_version": r.chain_version,
             "started_at": r.started_at.isoformat(timespec="seconds"),
             "finished_at": r.finished_at.isoformat(timespec="seconds")
             if r.finished_at else None} for r in rows]
    finally:
        uow.close()
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return
    if not data:
        print("no archive imports")
        return
    # One tab-separated line per import: the digest must be printed whole, whatever the
    # terminal's width (a table would fold it).
    print("\t".join(("id", "started", "status", "format", "events", "unreadable",
                     "chain digest", "files")))
    for d in data:
        print("\t".join((str(d["id"]), d["started_at"], d["status"], d["format"],
                         str(d["events"]), str(d["errors"]),
                         f"{d['digest']} (chain {d['chain_version']})",
                         ", ".join(d["files"]))))


@import_app.command("verify")
def verify_import(import_id: Annotated[int, typer.Argument(help="The import's id (`qunguan "
                                                           "import list`).", min=1)],
                  database_url: DatabaseUrlOpt = None) -> None:
    """Recompute an import's hash chain from the stored events: OK with the digest, or the
    first event (seq) that does not verify (exit 1). Events whose content retention purged
    verify through their content hash. Exit 2 for an unknown import."""
    from qunguan.cli.main import _fail, _uow, settings_for
    from qunguan.importers import queries
    from qunguan.kernel.errors import QunguanError

    uow = _uow(settings_for(database_url))
    try:
        try:
            archive = queries.access_import(uow, viewer=None, import_id=import_id)
            result = queries.verify(uow, viewer=None, import_id=import_id)
        except QunguanError:
            raise _fail(f"no archive import {import_id} (see `qunguan import list`)", 2) \
                from None
        status = archive.status
    finally:
        uow.close()
    name = f"archive import {import_id} ({status}, chain {result.chain_version})"
    if not result.ok:
        if result.first_bad_seq is None:
            raise _fail(f"{name}: TAMPERED: {result.problem}", 1)
        raise _fail(f"{name}: TAMPERED at event seq {result.first_bad_seq}: {result.problem} "
                    f"({result.events} event(s) before it verify)", 1)
    print(f"{name}: {result.events} event(s) verify: OK; digest {result.digest}")
    if result.purged:
        how = ("taken as stored: chain 1 hashed their whole content, which is gone"
               if result.unverifiable else "verified through their content hashes")
        print(f"{result.purged} event(s) purged by retention ({how})")


def audit(
    files: FilesArg,
    out: Annotated[Path | None, typer.Option(help="Folder for findings.jsonl, errors.txt and "
                                             "report.html (created if missing); required "
                                             "unless --import-into.")] = None,
    fmt: FormatOpt = "auto",
    bank: Annotated[Path | None, typer.Option(help="Debunk bank, JSONL as for `qunguan rumors "
                                              "match` (default: the shipped starter bank).")]
    = None,
    policy: Annotated[Path | None, typer.Option(help="Policy pack folder (default: the "
                                                "shipped default pack).")] = None,
    elections: Annotated[Path | None, typer.Option(help="Election periods, CSV: group,start,"
                                                   "end[,name] (dates YYYY-MM-DD).")] = None,
    workers: Annotated[int, typer.Option(min=0, help="Screening processes (0: one per core)."
                                         )] = 0,
    strict: StrictOpt = False,
    reveal_map: Annotated[Path | None, typer.Option(
        "--reveal-map", help="Also write the mapping from pseudonyms back to the export's "
        "sender identifiers to this file (kept apart from the report).")] = None,
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", help="Key of the pseudonym hash (at least 16 bytes), so that runs can be "
        "compared; default: a random key for each run.")] = None,
    category: Annotated[str, typer.Option(help="Group category the pack's scoped rules see "
                                          "for every chat (e.g. party_branch).")] = "",
    import_into: Annotated[bool, typer.Option(
        "--import-into", help="Instead of auditing, load the archives into the qunguan database "
        "(QUNGUAN_DATABASE_URL or --database-url) as an archive import with its own audit "
        "records and a hash chain over its events.")] = False,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="Database URL for --import-into.")] = None,
) -> None:
    """Audit exported chat archives with the real screening, rumour matching and clustering,
    red-envelope and personal-data detection: findings.jsonl and a self-contained report.html
    in OUT. Unreadable places are reported (FILE:LINE: reason) and counted; exit 1 when there
    were any, 2 for an unusable bank, pack, elections or key file."""
    from qunguan.importers.audit import AuditOptions, run_audit
    from qunguan.importers.elections import ElectionsInvalid
    from qunguan.importers.pseudonyms import read_key
    from qunguan.importers.screener import BankInvalid
    from qunguan.screening.policy import PackInvalid

    _check_format(fmt)
    if import_into:
        _import_into(files, fmt, strict, database_url)
        return
    if out is None:
        err.print("[red]say --out DIR (or --import-into)[/red]")
        raise typer.Exit(2)
    try:
        key = read_key(key_file) if key_file else None
    except (OSError, ValueError) as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
    options = AuditOptions(files=files, out=out, fmt=fmt, bank=bank, policy=policy,
                           elections=elections, workers=workers, strict=strict,
                           reveal_map=reveal_map, key=key, category=category)
    progress = Progress(TextColumn("auditing"), BarColumn(), DownloadColumn(),
                        TextColumn("{task.fields[rate]:>8} msg/s"), TimeRemainingColumn(),
                        TextColumn("{task.fields[errors]} unreadable"), console=err,
                        transient=True, disable=not err.is_terminal)
    started = time.monotonic()
    task = progress.add_task("audit", total=None, rate="0", errors=0)

    def on_progress(archive: Archive, tally: object) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        progress.update(task, total=archive.total_bytes, completed=archive.bytes_read,
                        rate=f"{archive.events / elapsed:,.0f}", errors=archive.errors)

    def on_error(error: ReadError) -> None:
        progress.console.print(f"[red]{escape(str(error))}[/red]", highlight=False,
                               soft_wrap=True)

    try:
        with progress:
            summary = run_audit(options, on_progress=on_progress, on_error=on_error)
    except (BankInvalid, PackInvalid, ElectionsInvalid) as exc:
        for e in getattr(exc, "errors", []):
            err.print(f"[red]{escape(str(e))}[/red]", soft_wrap=True)
        err.print(f"[red]{escape(str(exc).split(';')[0])}; nothing audited[/red]")
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
    t = summary.tally
    print(f"{t.events:,} events ({t.messages:,} messages) in {len(t.groups):,} groups read in "
          f"{summary.seconds:.1f} s ({t.events / max(summary.seconds, 1e-6):,.0f} events/s); "
          f"findings: {dict(t.findings)}; {t.error_count} unreadable place(s)")
    print(f"report: {out / 'report.html'}; findings: {out / 'findings.jsonl'}")
    if reveal_map:
        print(f"pseudonym mapping (identifies people, keep apart): {reveal_map}")
    if summary.strict_stopped or t.error_count:
        raise typer.Exit(1)


def _import_into(files: list[Path], fmt: str, strict: bool, database_url: str | None) -> None:
    from qunguan.cli.main import _uow, settings_for
    from qunguan.importers.loading import load_archive

    uow = _uow(settings_for(database_url))
    archive = Archive(files, fmt, strict, _print_error)
    try:
        result = load_archive(uow, archive)
    except StrictStop:
        err.print(f"[red]stopped at the first unreadable place (--strict); the {archive.events}"
                  " event(s) before it were loaded and the import is marked stopped[/red]")
        raise typer.Exit(1) from None
    finally:
        uow.close()
    print(result.describe())
    if result.errors:
        raise typer.Exit(1)
