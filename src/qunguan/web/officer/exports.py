"""A case's bundle for a discipline inspection office, from the case page: the same export as
``POST /api/officer/cases/{id}/export`` and ``qunguan case export`` (governance.actions), as
one zip to download: the bundle (JSON, with the signed checkpoint and an inclusion proof per
audit record), its readable HTML report, the log's verifier keys and how to check them
offline with ``qunguan auditlog verify-bundle``."""

from __future__ import annotations

import io
import zipfile

from fastapi import APIRouter, Request
from starlette.responses import Response

from qunguan.auditlog.actions import signing_keys
from qunguan.governance import actions as governance_actions
from qunguan.governance.bundle import file_bytes
from qunguan.kernel.web import IdPath, UowDep
from qunguan.web.officer.common import OfficerAccount
from qunguan.web.pages import WebRoute
from qunguan.web.session import Csrf

router = APIRouter(route_class=WebRoute, include_in_schema=False)

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


@router.post("/officer/review/{item_id}/export")
def export_case(request: Request, item_id: IdPath, uow: UowDep, me: OfficerAccount,
                _csrf: Csrf) -> Response:
    """The export is itself an audit record (CASE_EXPORTED, with the bundle's digest). A POST:
    it writes that record and brings the log up to date, so it is never a link to follow."""
    bundle, html = governance_actions.do_export_case(uow, acting=me, case_id=item_id)
    keys = "".join(v.text + "\n" for v in signing_keys(uow.settings).verifiers())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_entry(f"case-{item_id}.json"), file_bytes(bundle))
        archive.writestr(_entry(f"case-{item_id}.html"), html.encode("utf-8"))
        archive.writestr(_entry("verifier-keys.txt"), keys.encode("utf-8"))
        archive.writestr(_entry("HOW-TO-VERIFY.txt"), HOW_TO_VERIFY.format(
            case_id=item_id, digest=bundle.get("bundle_sha256", "")).encode("utf-8"))
    return Response(buffer.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="qunguan-case-{item_id}.zip"',
        "Cache-Control": "no-store, max-age=0"})
