"""`qunguan retention ...`, `qunguan case export` and `qunguan auditlog verify-bundle` (a
command of the audit log's group, registered here beside the export it checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qunguan.cli.auditlog import auditlog_app

retention_app = typer.Typer(help="Retention and legal hold: the report, the purge.",
                            no_args_is_help=True)
case_app = typer.Typer(help="Cases (review items): export a bundle for inspection.",
                       no_args_is_help=True)
console = Console()

DatabaseUrl = Annotated[str | None, typer.Option(help="Database URL (default: "
                                                 "QUNGUAN_DATABASE_URL).")]


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


@retention_app.command("report")
def report(database_url: DatabaseUrl = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """What is held and why, what is due for purging now, and when the rest falls due."""
    from qunguan.cli.main import _uow, settings_for
    from qunguan.governance import queries

    uow = _uow(settings_for(database_url))
    try:
        data = queries.retention_report(uow)
    finally:
        uow.close()
    if as_json:
        console.print_json(json.dumps(data, default=str, ensure_ascii=False))
        return
    mode = "regulated archive (3 years at least)" if data["regulated_archive"] else "standard"
    console.print(f"retention report at {_when(data['generated_at'])}, mode: {mode}")
    table = Table(title="Record kinds")
    for col in ("kind", "keep (days)", "setting", "due now", "held past retention",
                "next due", "purged so far"):
        table.add_column(col)
    for k in data["kinds"]:
        table.add_row(k["kind"], str(k["retention_days"]), f"QUNGUAN_{k['setting'].upper()}",
                      str(k["due_now"]), str(k["held_past_retention"]), _when(k["next_due_at"]),
                      str(k["purged_so_far"]))
    console.print(table)
    if not data["holds"]:
        console.print("no legal holds are active")
    for h in data["holds"]:
        covers = h["covers"]
        console.print(f"hold {h['id']} on {h['scope']} {h['scope_id']} since "
                      f"{_when(h['placed_at'])} by officer {h['placed_by']}: "
                      f"{escape(h['reason'])}; keeps {covers['message_texts_kept']} message "
                      f"text(s)", highlight=False)
    if data["open_cases"]:
        console.print("open cases (their subjects are kept until decided): "
                      + ", ".join(str(i) for i in data["open_cases"]))


@retention_app.command("purge")
def purge(database_url: DatabaseUrl = None) -> None:
    """Run the purge worker until nothing past retention is left (for cron)."""
    from qunguan.cli.main import run_until_done, settings_for
    from qunguan.governance.worker import purge_pass

    total = run_until_done(settings_for(database_url), purge_pass)
    console.print(f"purged {total} row(s) past retention")


@case_app.command("export")
def export(case_id: Annotated[int, typer.Argument(help="The case (review item) id.", min=1)],
           out: Annotated[Path, typer.Option(help="Folder to write into.")] = Path("."),
           database_url: DatabaseUrl = None) -> None:
    """Write case-ID.json (the bundle) and case-ID.html (the readable report)."""
    from qunguan.cli.main import _fail, _uow, settings_for
    from qunguan.governance import actions
    from qunguan.governance.bundle import write
    from qunguan.identity import queries as identity_queries
    from qunguan.kernel.errors import QunguanError

    uow = _uow(settings_for(database_url))
    try:
        system = identity_queries.system_account(uow)
        try:
            bundle, html = actions.do_export_case(uow, acting=system, case_id=case_id)
        except QunguanError as exc:
            raise _fail(exc.message, 1) from None
        json_path, html_path = write(bundle, html, out)
        uow.commit()
    finally:
        uow.close()
    console.print(f"wrote {json_path} and {html_path}; bundle sha256 {bundle['bundle_sha256']}",
                  highlight=False)


@auditlog_app.command("verify-bundle")
def verify_bundle(
    bundle: Annotated[Path, typer.Argument(help="The case-ID.json file.")],
    key: Annotated[list[Path], typer.Option(help="A file of the audit log's verifier keys "
                                            "(name+id+key lines, `qunguan auditlog keys`); "
                                            "repeat for several.")],
    html: Annotated[Path | None, typer.Option(help="The HTML report (default: the .html file "
                                              "beside the bundle, if any).")] = None,
) -> None:
    """Check a case bundle offline with the log's public keys only; exit 1 naming what
    failed, 2 when a file cannot be read."""
    from qunguan.cli.main import _fail
    from qunguan.governance import proofs
    from qunguan.governance.bundle import BundleError, verify

    try:
        keys = [line for path in key
                for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        raw = bundle.read_bytes()
        html_path = html if html is not None else bundle.with_suffix(".html")
        html_raw = html_path.read_bytes() if html is not None or html_path.exists() else None
    except OSError as exc:
        raise _fail(f"cannot read {exc.filename}: {exc.strerror}", 2) from None
    except UnicodeDecodeError:
        raise _fail("cannot read the key file: it is not UTF-8 text", 2) from None
    try:
        result = verify(raw, html_raw, check_proofs=proofs.checker(keys))
    except BundleError as exc:
        raise _fail(f"{bundle}: REJECTED: {exc}", 1) from None
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"{bundle}: case {result.case_id}, {result.records} audit record(s), "
                  f"{result.proven} proven in the signed log: OK", highlight=False)
