"""`qunguan auditlog ...`: append records to the Merkle log, sign and publish checkpoints,
rotate the signing key, export the log, verify an export offline, run the self-check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

auditlog_app = typer.Typer(help="The tamper-evident audit log: Merkle tree, signed "
                           "checkpoints, export and offline verification.",
                           no_args_is_help=True)
console = Console()


def _append_all(uow: object) -> int:
    from qunguan.auditlog import actions
    from qunguan.identity import queries as identity_queries
    from qunguan.kernel.uow import UnitOfWork

    assert isinstance(uow, UnitOfWork)
    system = identity_queries.system_account(uow)
    uow.commit()
    total = 0
    while done := actions.do_append(uow, acting=system):
        total += done
    return total


@auditlog_app.command()
def append() -> None:
    """Append every committed audit record not yet in the log (one pass of the worker)."""
    from qunguan.cli.main import _uow
    from qunguan.config import Settings

    uow = _uow(Settings())
    try:
        total = _append_all(uow)
    finally:
        uow.close()
    console.print(f"appended {total} record(s)")


@auditlog_app.command()
def checkpoint(
    publish: Annotated[Path | None, typer.Option(help="Also write the signed checkpoint to "
                                                 "this file (besides "
                                                 "QUNGUAN_AUDITLOG_PUBLISH_FILE).")] = None,
) -> None:
    """Append pending records, then sign a checkpoint of the log's size and root (a new one
    only when the log has grown) and print it."""
    from qunguan.auditlog import actions
    from qunguan.cli.main import _fail, _uow
    from qunguan.config import Settings
    from qunguan.identity import queries as identity_queries

    settings = Settings()
    uow = _uow(settings)
    try:
        _append_all(uow)
        system = identity_queries.system_account(uow)
        try:
            cp = actions.do_sign_checkpoint(uow, acting=system)
        except actions.LogCorrupted as exc:
            raise _fail(f"refusing to sign: {exc}", 1) from None
        uow.commit()
        cp = cp or actions.latest_checkpoint(uow)
        assert cp is not None
        actions.publish_checkpoint(settings, cp)
        if publish is not None:
            actions.publish_checkpoint(settings, cp, publish)
        note = cp.note
    finally:
        uow.close()
    console.print(note, end="", highlight=False, markup=False)


@auditlog_app.command("rotate-key")
def rotate_key() -> None:
    """Make a new checkpoint signing key current; old public keys stay for verification."""
    from qunguan.auditlog import actions
    from qunguan.cli.main import _uow
    from qunguan.config import Settings
    from qunguan.identity import queries as identity_queries

    uow = _uow(Settings())
    try:
        verifier = actions.do_rotate_signing_key(uow, acting=identity_queries.system_account(uow))
        uow.commit()
    finally:
        uow.close()
    console.print(f"new signing key: {verifier.text}", highlight=False, markup=False)


@auditlog_app.command("keys")
def keys() -> None:
    """Print the verifier keys (every key the log has signed with), one per line."""
    from qunguan.auditlog.actions import signing_keys
    from qunguan.config import Settings

    for v in signing_keys(Settings()).verifiers():
        console.print(v.text, highlight=False, markup=False)


@auditlog_app.command()
def export(out: Annotated[Path, typer.Option("--out", help="File to write (JSON Lines).")]
           ) -> None:
    """Write every leaf of the log up to the latest checkpoint with its record (see
    docs/auditlog.md), after appending pending records and signing a checkpoint."""
    from qunguan.auditlog import actions
    from qunguan.auditlog.export import write_export
    from qunguan.cli.main import _fail, _uow
    from qunguan.config import Settings
    from qunguan.identity import queries as identity_queries

    settings = Settings()
    uow = _uow(settings)
    try:
        _append_all(uow)
        system = identity_queries.system_account(uow)
        try:
            actions.do_sign_checkpoint(uow, acting=system)
        except actions.LogCorrupted as exc:
            raise _fail(f"refusing to export: {exc}; run `qunguan auditlog self-check`",
                        1) from None
        uow.commit()
        cp = actions.latest_checkpoint(uow)
        assert cp is not None
        uow.rollback()
        with out.open("w", encoding="utf-8") as fh:
            count = write_export(uow.session, fh, origin=settings.auditlog_origin,
                                 tree_size=cp.tree_size)
        out.with_suffix(out.suffix + ".checkpoint").write_text(cp.note, encoding="utf-8")
        actions.do_record_export(uow, acting=system, tree_size=cp.tree_size, target=str(out))
        uow.commit()
    finally:
        uow.close()
    console.print(f"exported {count} record(s) to {escape(str(out))}; its checkpoint is in "
                  f"{escape(str(out))}.checkpoint")


@auditlog_app.command()
def verify(
    export_file: Annotated[Path, typer.Argument(help="An export written by `qunguan auditlog "
                                                "export`.")],
    checkpoint: Annotated[list[Path], typer.Option(help="A signed checkpoint file; repeat for "
                                                   "a chain.")],
    key: Annotated[list[Path], typer.Option(help="A file of verifier keys "
                                            "(name+id+key lines); repeat for several.")],
) -> None:
    """Verify an export against signed checkpoints with the public keys only (no database).
    Exit 0: every record verifies; 1: a record or checkpoint does not (the first is named);
    2: the export or a checkpoint cannot be read."""
    from qunguan.auditlog.export import ExportError, load_checkpoints, verify_export
    from qunguan.auditlog.notes import NoteError, parse_verifier
    from qunguan.cli.main import _fail

    try:
        verifiers = [parse_verifier(line) for path in key
                     for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        checkpoints = load_checkpoints(
            [p.read_text(encoding="utf-8") for p in checkpoint], verifiers)
    except NoteError as exc:
        raise _fail(f"verifier key: {exc}", 2) from None
    except ExportError as exc:
        raise _fail(str(exc), 1) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read: {exc}", 2) from None
    try:
        with export_file.open(encoding="utf-8") as fh:
            report = verify_export(fh, checkpoints)
    except ExportError as exc:
        raise _fail(f"export does not verify: {exc}", 2) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read the export: {exc}", 2) from None
    if not report.ok:
        for problem in report.problems[:20]:
            console.print(f"[red]{escape(problem)}[/red]", highlight=False)
        raise _fail(f"FAILED: {report.first_problem}", 1)
    unsigned = report.records - report.verified_size
    console.print(f"OK: {report.records} records verify against {len(report.checkpoints)} "
                  f"checkpoint(s) (largest: {report.verified_size} leaves)"
                  + (f"; {unsigned} later record(s) are not covered by a checkpoint"
                     if unsigned else "")
                  + (f"; {report.purged} record(s) have purged content" if report.purged
                     else ""), highlight=False)


@auditlog_app.command("self-check")
def self_check() -> None:
    """Re-verify the stored records against the log and its checkpoints; exit 1 and raise
    the alert (event, audit record, /healthz) on tampering."""
    from qunguan.auditlog import actions
    from qunguan.cli.main import _fail, _uow
    from qunguan.config import Settings
    from qunguan.identity import queries as identity_queries

    uow = _uow(Settings())
    try:
        system = identity_queries.system_account(uow)
        uow.commit()
        problems = actions.do_self_check(uow, acting=system)
        uow.commit()
    finally:
        uow.close()
    if problems:
        for problem in problems[:20]:
            console.print(f"[red]{escape(problem)}[/red]", highlight=False)
        raise _fail(f"TAMPERING DETECTED: {problems[0]}", 1)
    console.print("audit log self-check passed")
