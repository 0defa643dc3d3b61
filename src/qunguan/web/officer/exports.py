"""A case's bundle for a discipline inspection office, from the case page: the same export as
``POST /api/officer/cases/{id}/export`` and ``qunguan case export`` (governance.actions), as
one zip to download (``governance.bundle.zipped``: the bundle, its report, the log's verifier
keys and how to check them offline with ``qunguan auditlog verify-bundle``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from qunguan.auditlog.actions import signing_keys
from qunguan.governance import actions as governance_actions
from qunguan.governance.bundle import zipped
from qunguan.kernel.web import IdPath, UowDep
from qunguan.web.officer.common import OfficerAccount
from qunguan.web.pages import WebRoute
from qunguan.web.session import Csrf

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.post("/officer/review/{item_id}/export")
def export_case(request: Request, item_id: IdPath, uow: UowDep, me: OfficerAccount,
                _csrf: Csrf) -> Response:
    """The export is itself an audit record (CASE_EXPORTED, with the bundle's digest). A POST:
    it writes that record and brings the log up to date, so it is never a link to follow."""
    bundle, html = governance_actions.do_export_case(uow, acting=me, case_id=item_id)
    keys = [v.text for v in signing_keys(uow.settings).verifiers()]
    return Response(zipped(bundle, html, keys), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="qunguan-case-{item_id}.zip"',
        "Cache-Control": "no-store, max-age=0"})
