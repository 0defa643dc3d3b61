"""The case bundle as files: its canonical JSON, the readable HTML report, and the offline
check ``qunguan auditlog verify-bundle`` runs. Pure: no database, no settings.

A bundle is one JSON document (docs/retention.md "Case export" is its specification)::

    {"format": "qunguan-case-bundle/1", "case_id", "exported_at", "exported_by",
     "sections": {"case", "reports", "messages", "decisions", "sanctions", "statements",
                  "appeals", "ledger", "cascade", "audit_records"},
     "digests": {"sections": {name: sha256 hex of the section's canonical JSON},
                 "report_html": sha256 hex of the HTML file's bytes},
     "proofs": {...} or null,
     "bundle_sha256": sha256 hex of the canonical JSON of everything else}

The file is written in one exact form (keys sorted, indent 1, UTF-8, a final newline), so a
verifier re-serialises what it read and compares bytes: any changed byte, even whitespace,
is found. ``proofs`` is where the signed checkpoint and one inclusion proof per audit
record go (``attach_proofs``); a bundle without them verifies its digests only and says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

FORMAT = "qunguan-case-bundle/1"
SECTIONS = ("case", "reports", "messages", "decisions", "sanctions", "statements", "appeals",
            "ledger", "cascade", "audit_records")


def canonical(value: Any) -> bytes:
    """Compact canonical JSON: what digests are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def file_bytes(bundle: dict[str, Any]) -> bytes:
    """The one form a bundle file is written in."""
    return (json.dumps(bundle, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
            + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _without_digest(bundle: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in bundle.items() if k != "bundle_sha256"}


def seal(bundle: dict[str, Any], html: str) -> dict[str, Any]:
    """Fill in the digests of the sections, the HTML report and the whole bundle."""
    bundle["digests"] = {
        "sections": {name: sha256_hex(canonical(bundle["sections"][name]))
                     for name in SECTIONS},
        "report_html": sha256_hex(html.encode("utf-8"))}
    bundle["bundle_sha256"] = sha256_hex(canonical(_without_digest(bundle)))
    return bundle


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("qunguan.governance", "templates"),
    autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)


def render_html(bundle: dict[str, Any]) -> str:
    """The readable report of a bundle (before ``seal``: it shows no digests of itself)."""
    return _ENV.get_template("case_bundle.html").render(b=bundle, s=bundle["sections"])


# --- offline verification -----------------------------------------------------------------


class BundleError(Exception):
    """The bundle fails verification; the message says what failed."""


@dataclass
class Verified:
    case_id: int
    records: int
    proven: int  # audit records whose inclusion in the signed log was checked
    notes: list[str] = field(default_factory=list)


# (bundle, proofs) -> number of audit records proven; raises BundleError. Installed by the
# audit log's proof checker (``qunguan.governance.proofs``) when the build has one.
ProofChecker = Callable[[dict[str, Any], dict[str, Any]], int]


def _fail(problem: str) -> BundleError:
    return BundleError(problem)


def _load(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"the bundle is not UTF-8 (byte {exc.start})") from None
    try:
        bundle = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"the bundle is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                    f"{exc.msg}); it may be truncated") from None
    if not isinstance(bundle, dict):
        raise _fail("the bundle is not a JSON object")
    if bundle.get("format") != FORMAT:
        raise _fail(f"unknown bundle format {bundle.get('format')!r} (expected {FORMAT})")
    missing = [k for k in ("case_id", "sections", "digests", "bundle_sha256") if k not in bundle]
    if missing:
        raise _fail(f"the bundle lacks {', '.join(missing)}")
    if not isinstance(bundle["case_id"], int) or isinstance(bundle["case_id"], bool):
        raise _fail("case_id is not an integer")
    return bundle


def _check_digests(bundle: dict[str, Any]) -> None:
    sections, digests = bundle["sections"], bundle["digests"]
    if not isinstance(sections, dict) or not isinstance(digests, dict) \
            or not isinstance(digests.get("sections"), dict):
        raise _fail("sections or digests are not JSON objects")
    for name in SECTIONS:
        if name not in sections:
            raise _fail(f"section {name!r} is missing")
        if sha256_hex(canonical(sections[name])) != digests["sections"].get(name):
            raise _fail(f"section {name!r} does not match its digest: the section or its "
                        "recorded digest was changed")
    extra = set(sections) - set(SECTIONS)
    if extra:
        raise _fail(f"unexpected sections {sorted(extra)}")
    if sha256_hex(canonical(_without_digest(bundle))) != bundle["bundle_sha256"]:
        raise _fail("the bundle digest (bundle_sha256) does not match: a digest or a header "
                    "field was changed")


def verify(raw: bytes, html: bytes | None, *,
           check_proofs: ProofChecker | None = None) -> Verified:
    """Check a bundle file (and its HTML report when given); BundleError names what failed."""
    bundle = _load(raw)
    _check_digests(bundle)
    if file_bytes(bundle) != raw:
        at = next((i for i, (a, b) in enumerate(zip(file_bytes(bundle), raw, strict=False))
                   if a != b), min(len(raw), len(file_bytes(bundle))))
        raise _fail(f"the file differs from its canonical form at byte {at}: it was edited")
    notes = []
    if html is None:
        notes.append("the HTML report was not checked (not given)")
    elif sha256_hex(html) != bundle["digests"].get("report_html"):
        raise _fail("the HTML report does not match its digest: it was changed or belongs to "
                    "another bundle")
    records = bundle["sections"]["audit_records"]
    if not isinstance(records, list):
        raise _fail("section 'audit_records' is not a list")
    proofs = bundle.get("proofs")
    proven = 0
    if proofs is None:
        notes.append("the bundle carries no checkpoint or inclusion proofs: its digests show "
                     "it is intact, but not that its records are the ones in the signed log")
    elif check_proofs is None:
        raise _fail("the bundle carries proofs but this verifier cannot check them")
    else:
        proven = check_proofs(bundle, proofs)
    return Verified(bundle["case_id"], len(records), proven, notes)


def _names(bundle: dict[str, Any]) -> tuple[str, str]:
    stem = f"case-{bundle['case_id']}"
    return f"{stem}.json", f"{stem}.html"


def write(bundle: dict[str, Any], html: str, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_name, html_name = _names(bundle)
    json_path, html_path = out_dir / json_name, out_dir / html_name
    json_path.write_bytes(file_bytes(bundle))
    html_path.write_bytes(html.encode("utf-8"))
    return json_path, html_path


# A fixed time inside the zip: the same case exported twice differs only where its content
# (the checkpoint, the export's own record) does.
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)

HOW_TO_VERIFY = """\
Case {case_id}: a bundle exported from qunguan

  case-{case_id}.json   the bundle: the case's records, the signed checkpoint of the audit log
                        and an inclusion proof of every audit record in it
  case-{case_id}.html   the readable report (its SHA-256 is in the bundle's digests)
  verifier-keys.txt     the public keys the audit log has signed with

Check it offline, with the public keys only:

  qunguan auditlog verify-bundle case-{case_id}.json --key verifier-keys.txt

Take the keys from a channel you trust rather than from this zip: compare verifier-keys.txt
with the keys the institution publishes (GET /api/auditlog/keys on its server, or the key
file its operator hands over). A bundle that verifies against keys from the same zip proves
only that it was not damaged on the way.

Bundle digest (sha256): {digest}
"""


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def zipped(bundle: dict[str, Any], html: str, verifier_keys: list[str]) -> bytes:
    """The bundle, its HTML report, the log's verifier keys and HOW-TO-VERIFY.txt as one zip
    (the console's download; the same files ``write`` puts in a folder)."""
    json_name, html_name = _names(bundle)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_entry(json_name), file_bytes(bundle))
        archive.writestr(_entry(html_name), html.encode("utf-8"))
        archive.writestr(_entry("verifier-keys.txt"),
                         "".join(k + "\n" for k in verifier_keys).encode("utf-8"))
        archive.writestr(_entry("HOW-TO-VERIFY.txt"), HOW_TO_VERIFY.format(
            case_id=bundle["case_id"], digest=bundle.get("bundle_sha256", "")).encode("utf-8"))
    return buffer.getvalue()
