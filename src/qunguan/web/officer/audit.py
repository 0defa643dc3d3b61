"""The audit log's status: the latest signed checkpoint, the last self-check's outcome, and the
newest records (auditlog.queries, as the API and /healthz read them)."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from qunguan.auditlog import queries as audit_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.web import UowDep
from qunguan.web.officer.common import OfficerAccount
from qunguan.web.pages import WebRoute
from qunguan.web.render import page

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE = 50


@router.get("/officer/audit")
def audit_status(request: Request, uow: UowDep, me: OfficerAccount,
                 before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    records, next_before = audit_queries.list_records(uow, viewer=me, before_id=before_id,
                                                      limit=PAGE)
    try:
        checkpoint = audit_queries.latest_checkpoint(uow, viewer=me)
    except QunguanError as exc:
        if exc.code != "no_checkpoint":
            raise
        checkpoint = None
    return page(request, "officer/audit.html", health=audit_queries.log_health(uow),
                checkpoint=checkpoint,
                root=base64.b64encode(checkpoint.root_hash).decode() if checkpoint else "",
                records=[{"id": r.id, "type": EventType(r.event_type).name.lower(),
                          "occurred_at": r.occurred_at, "acting_id": r.acting_id,
                          "subject_type": r.subject_type, "subject_id": r.subject_id,
                          "group_id": r.group_id} for r in records],
                next_before=next_before)
